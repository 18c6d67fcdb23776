"""Run retention never takes a run from an experiment that still needs it: a running or
draft experiment's named runs keep their artifact and recall tables, cannot be deleted,
and stay served through retrains; a stopped experiment's runs are pruned as usual."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.models import Experiment
from experiments.services.lifecycle import (
    VariantSpec,
    experiment_create,
    experiment_start,
    experiment_stop,
)
from recommender.models import ItemNeighbor, ModelRun
from recommender.services.artifacts import (
    ModelRunBusy,
    model_run_artifacts_prune,
    model_runs_delete,
)
from recommender.services.recall_tables import recall_tables_prune
from tests.run_states import train

pytestmark = pytest.mark.django_db(transaction=True)


def naming(run: ModelRun, name: str) -> Experiment:
    variants = [VariantSpec("now", "active", 1.0), VariantSpec("old", "run", 1.0, run.id)]
    return experiment_create(name=name, mode="split", variants=variants)


def kept(run: ModelRun) -> bool:
    stored = ModelRun.objects.get(id=run.id)
    return bool(stored.artifact) and Path(stored.artifact.path).is_file()


@pytest.mark.parametrize("state", ["draft", "running"])
def test_a_run_an_experiment_names_survives_pruning_and_deletion(
    synthetic_ratings, fast_params, state
) -> None:
    named = train(fast_params, activate=False)
    other = train(fast_params, activate=False)
    train(fast_params)  # the active run
    experiment = naming(named, "keep it")
    if state == "running":
        experiment_start(experiment_id=experiment.id)

    assert named.id not in model_run_artifacts_prune(keep=0)
    assert named.id not in recall_tables_prune(keep=0)
    with pytest.raises(ModelRunBusy, match="named by an experiment"):
        model_runs_delete(runs=ModelRun.objects.filter(id=named.id))

    assert kept(named) and ItemNeighbor.objects.filter(run_id=named.id).exists()
    assert not kept(other)  # retention still works for everything else


def test_a_stopped_experiments_run_is_pruned_again(synthetic_ratings, fast_params) -> None:
    named = train(fast_params, activate=False)
    train(fast_params)
    experiment = naming(named, "done")
    experiment_start(experiment_id=experiment.id)
    experiment_stop(experiment_id=experiment.id)

    assert model_run_artifacts_prune(keep=0) == [named.id]
    assert model_runs_delete(runs=ModelRun.objects.filter(id=named.id)) == 1


def test_retrains_neither_prune_nor_unload_a_running_experiments_run(
    client, synthetic_ratings, fast_params, settings
) -> None:
    """Retrains with the tightest retention while the experiment runs: its old run keeps
    being served (loaded beside the newest active run), never the active run in its place."""
    settings.VIDEOREC_KEEP_RECALL_TABLES = 0
    named = train(fast_params)
    experiment = naming(named, "through retrains")
    experiment_start(experiment_id=experiment.id)
    for _ in range(2):
        active = train(fast_params, force=True)

    served = {}
    for viewer in range(1, 41):
        answer = client.get(f"/recommend/{viewer}").json()
        served.setdefault(answer["experiment"]["variant"], set()).add(answer["model_run"])
    assert served == {"now": {active.id}, "old": {named.id}}
    assert kept(named)
