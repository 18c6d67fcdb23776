"""Model runs and recall tables in the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from recommender.models import ItemNeighbor, ModelRun, PopularItem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("model", "objects"),
    [("modelrun", ModelRun), ("itemneighbor", ItemNeighbor), ("popularitem", PopularItem)],
)
def test_pages_answer(staff_client, trained, model, objects) -> None:
    assert staff_client.get(reverse(f"admin:recommender_{model}_changelist")).status_code == 200
    first = objects.objects.first()
    page = staff_client.get(reverse(f"admin:recommender_{model}_change", args=[first.pk]))
    assert page.status_code == 200


def test_run_page_compares_the_system_with_its_baselines(staff_client, trained) -> None:
    page = staff_client.get(reverse("admin:recommender_modelrun_change", args=[trained.pk]))
    html = page.content.decode()
    for label in ("system", "popularity", "cooccurrence", "itemknn", "ease", "ndcg@10", "auc"):
        assert f">{label}<" in html
    assert f"{trained.metrics['system']['ndcg@10']:.4f}" in html
    # The ranker's objective and the seed's rating >= 4 AUC next to its baseline.
    pipeline = trained.params["pipeline"]
    assert f"labels: {pipeline['label_split']}, relevance: {pipeline['relevance']}" in html
    assert f"{trained.metrics['like']['baseline_auc']:.4f}" in html


def test_changelist_shows_headline_metrics(staff_client, trained) -> None:
    html = staff_client.get(reverse("admin:recommender_modelrun_changelist")).content.decode()
    assert f"{trained.headline('ndcg@10'):.4f}" in html
    assert f"{trained.data_snapshot['ratings']:,}" in html


def test_failed_run_shows_its_traceback(staff_client, db) -> None:
    run = ModelRun.objects.create(status="failed", error="Traceback …\nValueError: boom")
    html = staff_client.get(reverse("admin:recommender_modelrun_change", args=[run.pk]))
    assert "ValueError: boom" in html.content.decode()
