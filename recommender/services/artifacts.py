"""Model artifact files: their retention, and their deletion with their runs.

An artifact is about 24 MB on MovieLens-100k and every retrain writes one, so files are
kept only for the runs whose recall tables are kept (the active run, the newest
``VIDEOREC_KEEP_RECALL_TABLES`` succeeded runs, runs in flight): those are the runs an
operator can roll back to. A file is deleted only once the transaction that stops
naming it has committed, so a rolled-back deletion never leaves a run without its file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import transaction
from django.db.models import QuerySet

from ..models import ModelRun
from ..selectors import model_runs_in_use, model_runs_retained
from .runs import TrainingError

logger = logging.getLogger(__name__)


class ModelRunBusy(TrainingError):
    """The run serves or is training: it is not deleted from under its readers."""


def model_run_artifacts_prune(*, keep: int) -> list[int]:
    """Delete the artifacts of runs outside the retention; returns the ids of those runs.

    Their rows stay (metrics, parameters, history) with an empty ``artifact``: such a run
    can no longer be activated.
    """
    kept = model_runs_retained(keep=keep)
    candidates = list(
        ModelRun.objects.exclude(artifact="").exclude(id__in=kept).values_list("id", flat=True)
    )
    if not candidates:
        return []
    with transaction.atomic():
        # Row locks, as for the recall tables: a rollback re-activating one of these runs
        # holds its lock; once it commits the run is active and keeps its file.
        locked = ModelRun.objects.select_for_update().filter(id__in=candidates).order_by("id")
        files = {run.id: run.artifact.name for run in locked if not run.is_active and run.artifact}
        ModelRun.objects.filter(id__in=files).update(artifact="", artifact_sha256="")
        _delete_files_on_commit(list(files.values()))
    if files:
        logger.info("artifacts of runs %s pruned", ", ".join(map(str, files)))
    return list(files)


def model_runs_delete(*, runs: QuerySet[ModelRun]) -> int:
    """Delete these runs, their recall tables and their artifact files; returns how many.

    Refused (:class:`ModelRunBusy`, nothing deleted) when one of them is the active run,
    still training, or in use elsewhere (a running or draft experiment serves it).
    """
    with transaction.atomic():
        locked = list(
            ModelRun.objects.select_for_update().filter(pk__in=runs.values("pk")).order_by("id")
        )
        in_use = model_runs_in_use()
        busy = [
            run.id
            for run in locked
            if run.is_active or run.status in ModelRun.IN_FLIGHT or run.id in in_use
        ]
        if busy:
            raise ModelRunBusy(
                f"run(s) {', '.join(map(str, busy))} serve, are training or are named by an "
                "experiment; nothing was deleted"
            )
        files = [run.artifact.name for run in locked if run.artifact]
        ModelRun.objects.filter(id__in=[run.id for run in locked]).delete()
        _delete_files_on_commit(files)
    return len(locked)


def _delete_files_on_commit(names: Sequence[str]) -> None:
    if not names:
        return
    storage = ModelRun._meta.get_field("artifact").storage

    def delete() -> None:
        for name in names:
            try:
                storage.delete(name)
            except OSError:
                # The rows no longer name the file: a leftover only costs disk space.
                logger.warning("artifact %s could not be deleted", name, exc_info=True)

    transaction.on_commit(delete)
