"""The experiments admin: variants checked by the API's rules, start and stop actions, a
running experiment neither edited nor deleted."""

from __future__ import annotations

import pytest

from experiments.models import Experiment

pytestmark = pytest.mark.django_db


def form(*variants):
    data = {
        "name": "from the admin",
        "mode": "split",
        "variants-TOTAL_FORMS": str(len(variants)),
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
    }
    for index, (name, strategy, weight) in enumerate(variants):
        data |= {
            f"variants-{index}-position": str(index),
            f"variants-{index}-name": name,
            f"variants-{index}-strategy": strategy,
            f"variants-{index}-weight": str(weight),
        }
    return data


def test_the_admin_refuses_what_the_api_refuses(client, admin_user, trained):
    client.force_login(admin_user)

    refused = client.post("/admin/experiments/experiment/add/", form(("a", "active", 1)))
    assert refused.status_code == 200
    assert "two to 10 variants, not 1" in refused.content.decode()
    assert not Experiment.objects.exists()

    created = client.post(
        "/admin/experiments/experiment/add/",
        form(("a", "active", 1), ("b", "popularity", 3)),
    )
    assert created.status_code == 302
    experiment = Experiment.objects.get()
    assert [(v.name, v.weight) for v in experiment.variants.all()] == [("a", 1.0), ("b", 3.0)]


def test_start_and_stop_actions(client, admin_user, trained):
    client.force_login(admin_user)
    client.post("/admin/experiments/experiment/add/", form(("a", "active", 1), ("b", "run", 1)))
    assert not Experiment.objects.exists()  # a run variant without its run
    client.post(
        "/admin/experiments/experiment/add/", form(("a", "active", 1), ("b", "popularity", 1))
    )
    experiment = Experiment.objects.get()
    changelist = "/admin/experiments/experiment/"

    client.post(changelist, {"action": "start", "_selected_action": [experiment.id]})
    experiment.refresh_from_db()
    assert experiment.status == "running"
    delete = client.get(f"{changelist}{experiment.id}/delete/")
    assert delete.status_code == 403

    client.post(changelist, {"action": "stop", "_selected_action": [experiment.id]})
    experiment.refresh_from_db()
    assert experiment.status == "stopped"
