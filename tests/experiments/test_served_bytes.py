"""The ``/recommend`` body is spliced from JSON rendered once per answer: the bytes sent
must be exactly what DRF's JSONRenderer makes of the answer, with and without an
experiment, for a known and an unknown viewer, fresh and cached; other renderers still
render the data."""

from __future__ import annotations

import pytest
from rest_framework.renderers import JSONRenderer

from experiments.models import Experiment
from experiments.services.lifecycle import VariantSpec, experiment_create, experiment_start

pytestmark = pytest.mark.django_db


def running(mode: str, name: str = "bytes \u2028 «ü»") -> Experiment:
    variants = [VariantSpec("pop", "popularity", 1.0), VariantSpec("rank", "active", 1.0)]
    experiment = experiment_create(name=name, mode=mode, variants=variants)
    return experiment_start(experiment_id=experiment.id)


@pytest.mark.parametrize("mode", [None, "split", "interleave"])
def test_the_bytes_sent_are_the_json_rendering_of_the_answer(api, trained, mode) -> None:
    if mode:
        running(mode)
    for viewer in (3, 4, 999_999):  # 999,999 is unknown: the shared cold-start answer
        for _ in range(2):  # computed, then cached
            response = api.get(f"/recommend/{viewer}", {"topk": 5})
            assert response.status_code == 200
            assert response["Content-Type"] == "application/json"
            assert response.content == JSONRenderer().render(response.data)
            assert response.data["user_id"] == viewer
            assert ("experiment" in response.data) == bool(mode)


def test_other_renderers_still_render_the_data(api, trained) -> None:
    running("split")
    pretty = api.get("/recommend/3", HTTP_ACCEPT="application/json; indent=2")
    assert pretty.content.startswith(b'{\n  "user_id": 3')
    page = api.get("/recommend/3", {"format": "api"})
    assert page["Content-Type"].startswith("text/html") and b"request_id" in page.content
