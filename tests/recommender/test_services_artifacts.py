"""Model artifact files: the checksum on the run, retention, deletion with the run."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from recommender import registry
from recommender.engine.artifacts import ArtifactError
from recommender.models import ModelRun
from recommender.services.activation import model_run_rollback
from recommender.services.artifacts import (
    ModelRunBusy,
    model_run_artifacts_prune,
    model_runs_delete,
)
from recommender.services.runs import TrainingError
from tests.run_states import train

pytestmark = pytest.mark.django_db(transaction=True)


def file_sha256(run: ModelRun) -> str:
    return hashlib.sha256(Path(run.artifact.path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------- the checksum
def test_the_run_records_its_artifacts_sha256(synthetic_ratings, fast_params) -> None:
    run = train(fast_params)
    assert run.artifact_sha256 == file_sha256(run)


def test_a_replaced_artifact_is_refused_even_when_it_is_a_valid_one(
    synthetic_ratings, fast_params
) -> None:
    """Another run's artifact is internally consistent: only the run's record tells."""
    old = train(fast_params)
    new = train(fast_params, force=True)
    shutil.copyfile(new.artifact.path, old.artifact.path)

    with pytest.raises(ArtifactError, match="is not the file run"):
        registry.model_run_artifact_load(run=ModelRun.objects.get(id=old.id))
    with pytest.raises(TrainingError, match=r"artifact does not load.*replaced or damaged"):
        model_run_rollback(run_id=old.id)
    assert registry.active_run().id == new.id


def test_serving_keeps_no_model_from_a_replaced_artifact(synthetic_ratings, fast_params) -> None:
    run = train(fast_params)
    Path(run.artifact.path).write_bytes(Path(run.artifact.path).read_bytes() + b"\0")

    assert registry.active_model() is None


def test_a_run_recorded_before_checksums_is_trusted_once_then_pinned(
    synthetic_ratings, fast_params
) -> None:
    old = train(fast_params)
    new = train(fast_params, force=True)
    ModelRun.objects.filter(id=old.id).update(artifact_sha256="")

    registry.model_run_artifact_load(run=ModelRun.objects.get(id=old.id))  # embedded check

    assert ModelRun.objects.get(id=old.id).artifact_sha256 == file_sha256(old)
    shutil.copyfile(new.artifact.path, old.artifact.path)
    with pytest.raises(ArtifactError, match="is not the file run"):
        registry.model_run_artifact_load(run=ModelRun.objects.get(id=old.id))


# ------------------------------------------------------------------------------ retention
def test_artifacts_follow_the_recall_tables_retention(synthetic_ratings, fast_params) -> None:
    active = train(fast_params)
    newer = train(fast_params, activate=False)
    running = train(fast_params, activate=False)
    ModelRun.objects.filter(id=running.id).update(status=ModelRun.Status.RUNNING)
    shutil.copyfile(active.artifact.path, Path(active.artifact.path).with_name("failed.npz"))
    failed = ModelRun.objects.create(status="failed", artifact="model_runs/failed.npz")

    pruned = model_run_artifacts_prune(keep=0)

    assert sorted(pruned) == sorted([failed.id, newer.id])
    assert not Path(newer.artifact.path).exists()
    assert not Path(active.artifact.path).with_name("failed.npz").exists()
    for run in (active, running):
        assert Path(run.artifact.path).is_file()
        assert ModelRun.objects.get(id=run.id).artifact.name == run.artifact.name
    assert ModelRun.objects.get(id=newer.id).artifact.name == ""


def test_a_finished_retrain_prunes_old_artifacts(synthetic_ratings, fast_params, settings) -> None:
    settings.VIDEOREC_KEEP_RECALL_TABLES = 1
    runs = [train(fast_params, force=True) for _ in range(3)]

    files = sorted(p.name for p in (Path(settings.MEDIA_ROOT) / "model_runs").iterdir())

    assert files == [Path(runs[-1].artifact.name).name]


# ----------------------------------------------------------------------------- deletion
def test_deleting_a_run_deletes_its_file_once_committed(synthetic_ratings, fast_params) -> None:
    old = train(fast_params)
    active = train(fast_params, force=True)

    with pytest.raises(ModelRunBusy, match=f"run\\(s\\) {active.id} serve"):
        model_runs_delete(runs=ModelRun.objects.all())
    assert Path(old.artifact.path).is_file() and ModelRun.objects.count() == 2

    assert model_runs_delete(runs=ModelRun.objects.filter(id=old.id)) == 1
    assert not Path(old.artifact.path).exists()
    assert Path(active.artifact.path).is_file()


def test_the_admins_delete_removes_the_file(
    staff_client, synthetic_ratings, fast_params, settings
) -> None:
    settings.VIDEOREC_KEEP_RECALL_TABLES = 5
    first, second = train(fast_params), train(fast_params, activate=False)
    third = train(fast_params, activate=False)

    delete = reverse("admin:recommender_modelrun_delete", args=[second.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 302
    changelist = reverse("admin:recommender_modelrun_changelist")
    data = {"action": "delete_selected", "post": "yes", ACTION_CHECKBOX_NAME: [third.pk]}
    assert staff_client.post(changelist, data).status_code == 302

    assert list(ModelRun.objects.values_list("id", flat=True)) == [first.id]
    assert not Path(second.artifact.path).exists() and not Path(third.artifact.path).exists()
    assert Path(first.artifact.path).is_file()
