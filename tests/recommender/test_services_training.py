"""Retrain service: stages, tables, metrics, activation rules, failures."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from recommender.engine import training as engine_training
from recommender.models import ItemNeighbor, ModelRun, PopularItem
from recommender.services.activation import model_run_rollback
from recommender.services.runs import TrainingError
from recommender.services.training import model_run_create
from tests.run_states import train

pytestmark = pytest.mark.django_db(transaction=True)


def test_retrain_records_everything_and_activates(synthetic_ratings, fast_params) -> None:
    run = train(fast_params)

    assert (run.status, run.stage, run.is_active) == ("succeeded", "done", True)
    assert set(run.stage_seconds) == {"recall", "ranker", "evaluation", "activation"}
    assert run.data_snapshot["ratings"] == 60 * 14
    assert run.data_snapshot["newest_rating_at"].startswith("1998-03-02")
    assert run.artifact.name.endswith(f"run-{run.id}.npz")
    assert run.feature_importances
    system = run.metrics["system"]
    assert {
        "ndcg@10",
        "precision@10",
        "recall@10",
        "map@10",
        "hit_rate@10",
        "auc",
        "coverage",
    } <= set(system)
    assert {"popularity", "cooccurrence", "itemknn", "ease"} == set(run.metrics["baselines"])
    # Two disjoint taste groups: anything collaborative must beat popularity.
    assert system["ndcg@10"] > run.metrics["baselines"]["popularity"]["ndcg@10"]
    assert PopularItem.objects.filter(run=run).count() == 10
    neighbors = ItemNeighbor.objects.filter(run=run)
    assert set(neighbors.values_list("source", flat=True)) == {"cooccurrence", "itemknn", "ease"}
    # Neighbors stay inside the movie's taste group.
    top = neighbors.filter(source="itemknn", movie_id=1, rank=1).get()
    assert top.neighbor_id <= 20


def test_failing_stage_marks_the_run_failed_and_keeps_the_active_one(
    synthetic_ratings, fast_params, monkeypatch
) -> None:
    first = train(fast_params)

    def broken(model, data):
        raise RuntimeError("LightGBM exploded")

    monkeypatch.setattr(engine_training, "fit_ranker", broken)
    with pytest.raises(TrainingError, match="failed while ranker: LightGBM exploded"):
        train(fast_params)

    failed = ModelRun.objects.latest("id")
    assert failed.status == ModelRun.Status.FAILED
    assert failed.stage == ModelRun.Stage.RANKER
    assert "RuntimeError: LightGBM exploded" in failed.error
    assert ModelRun.objects.get(is_active=True) == first


def test_a_worse_run_is_not_activated_unless_forced(synthetic_ratings, fast_params) -> None:
    first = train(fast_params)
    ModelRun.objects.filter(id=first.id).update(metrics={"system": {"ndcg@10": 0.99}})

    second = train(fast_params)
    assert not second.is_active
    assert ModelRun.objects.get(is_active=True).id == first.id

    model_run_rollback(run_id=second.id)
    assert ModelRun.objects.get(is_active=True).id == second.id


def test_training_without_ratings_fails_clearly(db, fast_params) -> None:
    with pytest.raises(TrainingError, match="no ratings to train on"):
        train(fast_params)


def test_invalid_parameters_are_refused_before_a_run_exists(db) -> None:
    with pytest.raises(ValueError, match="label_share"):
        model_run_create(triggered_by="test", params={"pipeline": {"label_share": 2.0}})
    assert not ModelRun.objects.exists()


def test_the_database_allows_one_active_run(db) -> None:
    ModelRun.objects.create(is_active=True)
    with pytest.raises(IntegrityError):
        ModelRun.objects.create(is_active=True)


def test_an_unknown_run_is_refused(db) -> None:
    from recommender.services.training import recall_tables_build

    with pytest.raises(TrainingError, match="there is no model run 4242"):
        recall_tables_build(run_id=4242)


def test_training_threads_come_from_the_settings(db, settings) -> None:
    settings.VIDEOREC_TRAINING_THREADS = 1
    run = model_run_create(triggered_by="test")
    assert run.params["pipeline"]["ranker"]["num_threads"] == 1


def test_the_ranker_objective_comes_from_the_settings(db, settings) -> None:
    settings.VIDEOREC_RANKER_LABELS = "random"
    settings.VIDEOREC_RELEVANCE = "liked"
    run = model_run_create(triggered_by="test")
    assert run.params["pipeline"]["label_split"] == "random"
    assert run.params["pipeline"]["relevance"] == "liked"


def test_every_run_reports_the_rating_auc_next_to_its_baseline(
    synthetic_ratings, fast_params
) -> None:
    run = train(fast_params)
    like = run.metrics["like"]
    assert {"pairs", "liked_share", "baseline_auc", "auc"} <= set(like)
    assert like["pairs"] == run.metrics["protocol"]["test_ratings"]
    assert 0 <= like["auc"] <= 1 and 0 <= like["baseline_auc"] <= 1


def test_scaling_settings_reach_the_run(db, settings) -> None:
    settings.VIDEOREC_RANKER_ROW_BUDGET = 12_345
    settings.VIDEOREC_EASE_MAX_ITEMS = 77
    settings.VIDEOREC_EVALUATION = {**settings.VIDEOREC_EVALUATION, "users": 9}
    run = model_run_create(triggered_by="test")
    assert run.params["pipeline"]["ranker_row_budget"] == 12_345
    assert run.params["pipeline"]["sources"]["ease"]["max_items"] == 77
    assert run.params["evaluation"]["users"] == 9


def test_the_run_records_and_shows_how_training_scaled(
    synthetic_ratings, fast_params, staff_client
) -> None:
    from django.urls import reverse

    sources = fast_params["pipeline"]["sources"]
    pipeline = {
        **fast_params["pipeline"],
        "sources": {**sources, "ease": {**sources["ease"], "max_items": 15}},
    }
    run = train({**fast_params, "pipeline": pipeline, "evaluation": {"users": 25}})
    scale = run.params["scale"]
    ease = scale["recall"]["ease"]
    assert (ease["mode"], ease["items"], ease["k"]) == ("most_rated_subset", 15, 200)
    assert ease["catalogue"] > 15
    assert scale["evaluation_viewers"] == {"scored": 25, "evaluable": 60}
    assert run.metrics["protocol"]["users"] == 25
    assert scale["ranker_viewers"] == [60]
    page = staff_client.get(reverse("admin:recommender_modelrun_change", args=[run.pk]))
    html = page.content.decode()
    assert "ease: 15 most-rated of" in html
    assert "evaluation: 25 of 60 viewers" in html
    assert "ranker folds: 60 viewers" in html
