"""The model registry: which run is active, and its pipeline loaded in this process.

The database says which run is active (at most one: a partial unique index); this module
is the one place that asks it, and the one place that changes the answer. Serving must
not pay a query per request for it, so each process reads the active run's id through
the Django cache (one key, refreshed every few seconds or at once when a run is
activated) and trusts what it read for a second; a switch thus reaches every process
without a restart. The active run's pipeline is loaded once per process and kept in
memory; a run whose artifact cannot be loaded is logged and the previous model keeps
serving.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from django.conf import settings
from django.core.cache import cache, caches
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .models import ModelRun

if TYPE_CHECKING:
    from recommender.engine.model import RecommenderModel

logger = logging.getLogger(__name__)

ACTIVE_RUN_CACHE_KEY = "recommender:active-run"
#: How long a process trusts its idea of the active run when nobody announces a switch
#: (a local-memory cache is not shared between processes).
ACTIVE_RUN_RECHECK_SECONDS = 5
#: How long a process reuses the run id it last read, saving a cache round trip per
#: request; a switch announced elsewhere reaches it at most this late.
LOCAL_RECHECK_SECONDS = 1.0
NO_ACTIVE_RUN = 0


@dataclass(frozen=True)
class ActiveModel:
    run_id: int
    recommender: RecommenderModel
    #: Names this model in cache keys; unlike the id alone it never comes back after
    #: the database is flushed and reloaded.
    cache_namespace: str


_lock = threading.Lock()
_loaded: ActiveModel | None = None
#: Runs served besides the active one (experiments' variants), by run id.
_side_by_side: dict[int, ActiveModel] = {}
_seen: tuple[float, int] = (-LOCAL_RECHECK_SECONDS, NO_ACTIVE_RUN)  # (monotonic s, run id)


# ------------------------------------------------------------------ the database's answer
def active_runs() -> QuerySet[ModelRun]:
    """The active run as a query set (none or one row), for callers that lock or project."""
    return ModelRun.objects.filter(is_active=True)


def active_run() -> ModelRun | None:
    """The active run, read from the database now."""
    return active_runs().first()


def active_run_set(*, run: ModelRun) -> None:
    """Make ``run`` the active run, inside the caller's transaction.

    The caller serialises switches (see ``services.activation``); every process learns of
    the switch once the transaction commits.
    """
    active_runs().exclude(id=run.id).update(is_active=False)
    run.is_active = True
    run.activated_at = timezone.now()
    run.save(update_fields=["is_active", "activated_at"])
    run_id = run.id
    transaction.on_commit(lambda: active_run_changed(run_id))


def active_run_changed(run_id: int | None) -> None:
    """Announce a switch of the active run to every process sharing the cache."""
    global _seen
    cache.set(ACTIVE_RUN_CACHE_KEY, run_id or NO_ACTIVE_RUN, ACTIVE_RUN_RECHECK_SECONDS)
    _seen = (-LOCAL_RECHECK_SECONDS, NO_ACTIVE_RUN)


# ------------------------------------------------------------------ this process's model
def forget_process_state() -> None:
    """Drop the loaded model and the remembered run id, as in a new process."""
    global _loaded, _seen
    _loaded, _seen = None, (-LOCAL_RECHECK_SECONDS, NO_ACTIVE_RUN)
    _side_by_side.clear()
    caches["process"].clear()


def _active_run_id() -> int:
    global _seen
    checked_at, run_id = _seen
    now = time.monotonic()
    if now - checked_at < LOCAL_RECHECK_SECONDS:
        return run_id
    run_id = cache.get(ACTIVE_RUN_CACHE_KEY)
    if run_id is None:
        run_id = active_runs().values_list("id", flat=True).first() or NO_ACTIVE_RUN
        cache.set(ACTIVE_RUN_CACHE_KEY, run_id, ACTIVE_RUN_RECHECK_SECONDS)
    _seen = (now, run_id)
    return run_id


def model_run_artifact_load(*, run: ModelRun, require_ranker: bool = False) -> RecommenderModel:
    """Load ``run``'s model from its artifact (``ArtifactError`` when it is unusable).

    The file must have the SHA-256 recorded on the run when it was written; any other
    file is refused, even a valid artifact. A run recorded before checksums were kept
    has none: its file is trusted once its embedded checksum verifies, and its digest
    is recorded then, so a later replacement is refused.
    """
    # Imported on first use: LightGBM and scikit-learn take a second to import, which
    # every management command would otherwise pay through the URL checks.
    from recommender.engine.artifacts import ArtifactError, load_model

    with _opened(run) as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if run.artifact_sha256 and digest != run.artifact_sha256:
            raise ArtifactError(
                f"{run.artifact.name} is not the file run {run.id} wrote (SHA-256 "
                f"{digest[:16]}…, recorded {run.artifact_sha256[:16]}…); it was replaced or damaged"
            )
        handle.seek(0)
        # The arrays are mapped from the very file just hashed (the same open handle), so
        # a file swapped in meanwhile is never the one served.
        mapped = settings.VIDEOREC_ARTIFACT_MMAP and _is_local(handle)
        model = load_model(handle, require_ranker=require_ranker, mmap=mapped)
    if not run.artifact_sha256:
        ModelRun.objects.filter(id=run.id, artifact=run.artifact.name, artifact_sha256="").update(
            artifact_sha256=digest
        )
        run.artifact_sha256 = digest
        logger.warning("run %s: artifact SHA-256 recorded on first load (%s)", run.id, digest)
    return model


def _opened(run: ModelRun) -> BinaryIO:
    """The run's artifact opened for reading: the file itself when the storage is a local
    folder (so its arrays can be mapped), else the storage's own file object."""
    try:
        return open(run.artifact.path, "rb")  # the caller closes it
    except NotImplementedError:  # object storage: no local path
        return run.artifact.open("rb")


def _is_local(handle: BinaryIO) -> bool:
    try:
        handle.fileno()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return False
    return True


def active_model() -> ActiveModel | None:
    """The active run's pipeline, loading it if this process does not hold it yet."""
    global _loaded
    run_id = _active_run_id()
    if run_id == NO_ACTIVE_RUN:
        return None
    current = _loaded
    if current is not None and current.run_id == run_id:
        return current
    from recommender.engine.artifacts import ArtifactError

    with _lock:
        if _loaded is not None and _loaded.run_id == run_id:
            return _loaded
        try:
            run = ModelRun.objects.get(id=run_id)
            _loaded = ActiveModel(
                run_id=run_id,
                recommender=model_run_artifact_load(run=run),
                cache_namespace=f"{run_id}.{run.created_at.timestamp():.6f}",
            )
            logger.info("serving model run %s", run_id)
        except (ModelRun.DoesNotExist, ArtifactError, OSError, ValueError) as exc:
            logger.error(
                "cannot load model run %s (%s); %s",
                run_id,
                exc,
                f"still serving run {_loaded.run_id}" if _loaded else "no model to serve",
            )
        return _loaded


# ------------------------------------------------------------------ runs side by side
def run_model(*, run_id: int) -> ActiveModel | None:
    """Run ``run_id``'s pipeline, loaded beside the active one (None: it cannot be loaded).

    Experiments serve several runs at once; each stays in this process's memory until
    :func:`run_models_keep` lets it go (a MovieLens-100k run holds about 25–30 MB, the size of
    its artifact).
    """
    active = active_model()
    if active is not None and active.run_id == run_id:
        return active
    held = _side_by_side.get(run_id)
    if held is not None:
        return held
    from recommender.engine.artifacts import ArtifactError

    with _lock:
        if run_id in _side_by_side:
            return _side_by_side[run_id]
        try:
            run = ModelRun.objects.get(id=run_id)
            model = ActiveModel(
                run_id=run_id,
                recommender=model_run_artifact_load(run=run),
                cache_namespace=f"{run_id}.{run.created_at.timestamp():.6f}",
            )
        except (ModelRun.DoesNotExist, ArtifactError, OSError, ValueError) as exc:
            logger.error("cannot load model run %s beside the active one (%s)", run_id, exc)
            return None
        _side_by_side[run_id] = model
        logger.info("serving model run %s beside the active run", run_id)
        return model


def run_models_keep(*, run_ids: Collection[int]) -> None:
    """Release the runs loaded beside the active one, except ``run_ids``."""
    with _lock:
        for run_id in [held for held in _side_by_side if held not in run_ids]:
            del _side_by_side[run_id]
