"""Results on a small hand-made set of lists and clicks: per-variant counts, CTR and its
interval, the lift tested over viewers, the sample-ratio check, interleaving wins; the
API and the admin page that show them."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest
from django.utils import timezone
from scipy import stats

from experiments.engine.statistics import proportion_ci, sign_test_p_value, srm_p_value
from experiments.models import Event, Experiment, Impression
from experiments.services.lifecycle import VariantSpec, experiment_create, experiment_start

pytestmark = pytest.mark.django_db

ITEMS = [11, 12, 13, 14]


def lists_of(experiment, variant, viewer, clicked_per_list, credits=None):
    """One impression per entry of ``clicked_per_list``, with clicks on those movies."""
    now = timezone.now()
    for clicked in clicked_per_list:
        request_id = uuid.uuid4()
        Impression.objects.create(
            request_id=request_id,
            viewer_id=viewer,
            experiment=experiment,
            variant=variant,
            items=ITEMS,
            credits=credits,
            served_at=now,
        )
        for item in clicked:
            Event.objects.create(
                type="click",
                user_id=viewer,
                item_id=item,
                request_id=request_id,
                timestamp=now,
                received_at=now,
            )


@pytest.fixture
def split(db):
    experiment = experiment_create(
        name="hand-made",
        mode="split",
        variants=[VariantSpec("a", "popularity", 1.0), VariantSpec("b", "active", 1.0)],
    )
    experiment_start(experiment_id=experiment.id)
    a, b = experiment.variants.order_by("position")
    lists_of(experiment, a, 1, [[11], []])
    lists_of(experiment, a, 2, [[], []])
    lists_of(experiment, a, 3, [[12, 12]])  # two clicks on one movie: one clicked list
    lists_of(experiment, b, 4, [[11, 13], [14]])
    lists_of(experiment, b, 5, [[12]])
    lists_of(experiment, b, 6, [[], [99]])  # a movie not in the list is no click
    now = timezone.now()
    # A click without a request id is attributed to no list.
    Event.objects.create(type="click", user_id=2, item_id=11, timestamp=now, received_at=now)
    return experiment


def test_split_results_count_lists_and_test_over_viewers(staff_api, split):
    results = staff_api.get(f"/api/experiments/{split.id}/results/").json()

    a, b = results["variants"]
    assert (a["name"], a["users"], a["impressions"], a["clicks"], a["clicked_items"]) == (
        "a", 3, 5, 2, 2,
    )  # fmt: skip
    assert (b["name"], b["users"], b["impressions"], b["clicks"], b["clicked_items"]) == (
        "b", 3, 5, 3, 4,
    )  # fmt: skip
    assert a["ctr"] == pytest.approx(0.4) and b["ctr"] == pytest.approx(0.6)
    assert a["ctr_ci"] == pytest.approx(list(proportion_ci(2, 5)))
    per_viewer_a, per_viewer_b = np.array([0.5, 0.0, 1.0]), np.array([1.0, 1.0, 0.0])
    welch = stats.ttest_ind(per_viewer_b, per_viewer_a, equal_var=False)
    assert results["lift"] == pytest.approx(per_viewer_b.mean() / per_viewer_a.mean() - 1)
    assert results["p_value"] == pytest.approx(welch.pvalue)
    assert results["lift_ci"][0] < results["lift"] < results["lift_ci"][1]
    assert b["lift"] == results["lift"] and "lift" not in a
    assert results["srm_p_value"] == pytest.approx(srm_p_value([3, 3], [1, 1]))
    assert results["srm_alarm"] is False
    assert "interleaving" not in results
    assert sum(p["variants"][0]["impressions"] for p in results["timeline"]) == 5


def test_a_sample_ratio_mismatch_is_flagged(staff_api, db):
    experiment = experiment_create(
        name="skewed",
        mode="split",
        variants=[VariantSpec("a", "active", 1.0), VariantSpec("b", "popularity", 1.0)],
    )
    a, b = experiment.variants.order_by("position")
    for viewer in range(1, 451):
        lists_of(experiment, a if viewer <= 300 else b, viewer, [[]])

    results = staff_api.get(f"/api/experiments/{experiment.id}/results/").json()

    assert [v["users"] for v in results["variants"]] == [300, 150]
    assert results["srm_p_value"] < 0.001 and results["srm_alarm"] is True


def test_interleaving_results_count_the_lists_each_side_won(staff_api, db):
    experiment = experiment_create(
        name="duel",
        mode="interleave",
        variants=[VariantSpec("a", "popularity", 1.0), VariantSpec("b", "active", 1.0)],
    )
    credits = [0, 1, 0, 1]  # 11 and 13 placed by a, 12 and 14 by b
    lists_of(experiment, None, 1, [[11], [12, 14]], credits)  # a wins, b wins
    lists_of(experiment, None, 2, [[11, 12], [], [14]], credits)  # tie, no click, b wins

    results = staff_api.get(f"/api/experiments/{experiment.id}/results/").json()

    block = results["interleaving"]
    assert block["lists_won"] == {"a": 1, "b": 2} and block["ties"] == 1
    assert block["share_won"] == pytest.approx({"a": 1 / 3, "b": 2 / 3})
    assert block["p_value"] == pytest.approx(sign_test_p_value(1, 2))
    a, b = results["variants"]
    # Every list counts for both sides; a list is clicked for the side that placed a click.
    assert (a["users"], a["impressions"], a["clicks"]) == (2, 5, 2)
    assert (b["users"], b["impressions"], b["clicks"]) == (2, 5, 3)
    assert results["srm_p_value"] is None


def test_results_of_an_unknown_experiment_are_a_404(staff_api, db):
    assert staff_api.get("/api/experiments/4242/results/").status_code == 404


def test_the_admin_results_page_draws_the_ctr_over_time(client, admin_user, split):
    Impression.objects.filter(variant__name="a").update(
        served_at=timezone.now() - dt.timedelta(hours=3)
    )
    client.force_login(admin_user)

    page = client.get(f"/admin/experiments/experiment/{split.id}/results/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "Cumulative CTR by variant" in html
    assert "0.4000" in html and "0.6000" in html
    listing = client.get("/admin/experiments/experiment/")
    assert f"/admin/experiments/experiment/{split.id}/results/" in listing.content.decode()
    assert client.get("/admin/experiments/event/").status_code == 200
    assert client.get("/admin/experiments/impression/").status_code == 200
    assert Experiment.objects.get(id=split.id).status == "running"
