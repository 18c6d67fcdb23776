"""Experiments: creation (validated), start, stop, and the running one as each process
sees it.

Serving asks for the running experiment on every request, so each process keeps it in
its local memory for a second and in the shared cache for a few seconds; starting or
stopping announces the change through the shared cache, as a model switch does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import cache, caches
from django.db import IntegrityError, transaction
from django.utils import timezone

from recommender.models import ModelRun
from recommender.registry import run_model, run_models_keep

from ..models import Experiment, Variant, new_salt
from ..selectors import RunningExperiment, running_experiment_read

RUNNING_CACHE_KEY = "experiments:running"
#: How long the shared cache (and a process without a shared cache) trusts its answer.
RUNNING_RECHECK_SECONDS = 5
#: How long a process trusts the answer it read, saving a cache round trip per request.
LOCAL_RECHECK_SECONDS = 1
NONE_RUNNING = 0
#: More variants than this split the traffic too thin to learn anything.
MAX_VARIANTS = 10


class ExperimentInvalid(ValueError):
    """The experiment's definition is refused; ``errors`` says why, by field."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{key}: {' '.join(value)}" for key, value in errors.items()))
        self.errors = errors


class ExperimentConflict(Exception):
    """The operation does not fit the experiment's state (409)."""


@dataclass(frozen=True)
class VariantSpec:
    name: str
    strategy: str
    weight: float
    model_run: int | None = None


# ------------------------------------------------------------------ create, start, stop
def experiment_create(
    *, name: str, mode: str, variants: Sequence[VariantSpec], salt: str | None = None
) -> Experiment:
    """Create a draft experiment; :class:`ExperimentInvalid` when its variants are wrong.

    ``salt`` (default: a new random one) seeds the assignment: the same salt assigns every
    viewer as before, e.g. to re-run an experiment on the same groups.
    """
    experiment_validate(mode=mode, variants=variants)
    with transaction.atomic():
        experiment = Experiment.objects.create(name=name, mode=mode, salt=salt or new_salt())
        Variant.objects.bulk_create(
            Variant(
                experiment=experiment,
                position=position,
                name=spec.name,
                strategy=spec.strategy,
                model_run_id=spec.model_run,
                weight=spec.weight,
            )
            for position, spec in enumerate(variants)
        )
    return experiment


def experiment_validate(*, mode: str, variants: Sequence[VariantSpec]) -> None:
    """Raise :class:`ExperimentInvalid` unless these variants make an experiment of ``mode``:
    two or more (exactly two to interleave), distinct names, positive weights, and a
    succeeded run with an artifact for each ``run`` variant (and for no other)."""
    errors: dict[str, list[str]] = {}
    if not 2 <= len(variants) <= MAX_VARIANTS:
        errors.setdefault("variants", []).append(
            f"an experiment needs two to {MAX_VARIANTS} variants, not {len(variants)}"
        )
    if mode == Experiment.Mode.INTERLEAVE and len(variants) != 2:
        errors.setdefault("variants", []).append("interleaving merges exactly two variants")
    names = [spec.name for spec in variants]
    if len(set(names)) != len(names):
        errors.setdefault("variants", []).append("variant names must be unique")
    for index, spec in enumerate(variants):
        problem = _variant_problem(spec)
        if problem:
            errors.setdefault(f"variants[{index}]", []).append(problem)
    if errors:
        raise ExperimentInvalid(errors)


def _variant_problem(spec: VariantSpec) -> str:
    if not spec.weight > 0:
        return "weight must be positive"
    if spec.strategy != Variant.Strategy.RUN:
        return "model_run is only for the 'run' strategy" if spec.model_run is not None else ""
    if spec.model_run is None:
        return "the 'run' strategy needs a model_run"
    run = ModelRun.objects.filter(id=spec.model_run).only("status", "artifact").first()
    if run is None:
        return f"model run {spec.model_run} does not exist"
    if run.status != ModelRun.Status.SUCCEEDED or not run.artifact:
        return f"model run {spec.model_run} is not a succeeded run with an artifact"
    return ""


def experiment_start(*, experiment_id: int) -> Experiment:
    """Start a draft; :class:`ExperimentConflict` when another one runs or it is not a draft.

    Every named run is loaded here first, so a run whose artifact is gone is refused
    rather than silently served by the active run.
    """
    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().get(id=experiment_id)
        if experiment.status != Experiment.Status.DRAFT:
            raise ExperimentConflict(
                f"experiment {experiment.id} is {experiment.status}: only a draft can start"
            )
        running = Experiment.objects.filter(status=Experiment.Status.RUNNING).first()
        if running is not None:
            raise ExperimentConflict(
                f"experiment {running.id} ({running.name!r}) is running: stop it first "
                "(one experiment at a time)"
            )
        for variant in experiment.variants.filter(strategy=Variant.Strategy.RUN):
            if variant.model_run_id is None or run_model(run_id=variant.model_run_id) is None:
                raise ExperimentConflict(
                    f"variant {variant.name!r}: model run {variant.model_run_id} cannot be "
                    "loaded (deleted, or its artifact was pruned)"
                )
        experiment.status, experiment.started_at = Experiment.Status.RUNNING, timezone.now()
        try:
            with transaction.atomic():
                experiment.save(update_fields=["status", "started_at"])
        except IntegrityError as exc:  # another start won the race
            raise ExperimentConflict("another experiment started meanwhile") from exc
        _announce()
    return experiment


def experiment_stop(*, experiment_id: int) -> Experiment:
    """Stop a running experiment (its data stay for the results)."""
    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().get(id=experiment_id)
        if experiment.status != Experiment.Status.RUNNING:
            raise ExperimentConflict(
                f"experiment {experiment.id} is {experiment.status}: only a running one can stop"
            )
        experiment.status, experiment.stopped_at = Experiment.Status.STOPPED, timezone.now()
        experiment.save(update_fields=["status", "stopped_at"])
        _announce()
    return experiment


def _announce() -> None:
    # Now, for this process, and again once committed, for every process (one that read
    # the old state in between would otherwise keep it for a few seconds).
    running_experiment_changed()
    transaction.on_commit(running_experiment_changed)


# ------------------------------------------------------------------ what serving sees
def running_experiment_changed() -> None:
    """Announce a start or stop to every process sharing the cache."""
    cache.delete(RUNNING_CACHE_KEY)
    caches["process"].delete(RUNNING_CACHE_KEY)


def running_experiment() -> RunningExperiment | None:
    """The running experiment as this process knows it (at most a few seconds old)."""
    local = caches["process"]
    known = local.get(RUNNING_CACHE_KEY)
    if known is None:
        known = cache.get(RUNNING_CACHE_KEY)
        if known is None:
            known = running_experiment_read() or NONE_RUNNING
            cache.set(RUNNING_CACHE_KEY, known, RUNNING_RECHECK_SECONDS)
        local.set(RUNNING_CACHE_KEY, known, LOCAL_RECHECK_SECONDS)
        # Runs loaded for an experiment that ended are let go.
        run_models_keep(run_ids=known.run_ids if known else ())
    return known or None
