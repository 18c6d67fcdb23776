"""Serving service: the history → candidates → ranker path, cold start, model swaps."""

from __future__ import annotations

import datetime as dt

import pytest

from ingestion.models import Rating
from recommender.models import ModelRun
from recommender.services import serving
from recommender.services.training import model_run_create, model_run_execute, model_run_rollback

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def trained(synthetic_ratings, fast_params) -> ModelRun:
    run = model_run_create(triggered_by="test", params=fast_params)
    return model_run_execute(run_id=run.id)


def recommend(viewer_id: int, topk: int = 10, **kwargs) -> serving.ViewerRecommendations:
    (result,) = serving.recommendations_for_viewers(viewer_ids=[viewer_id], topk=topk, **kwargs)
    return result


def test_recommendations_are_unseen_unique_and_stable(trained) -> None:
    result = recommend(3)

    ids = [item.item_id for item in result.recommendations]
    rated = set(Rating.objects.filter(viewer_id=3).values_list("movie_id", flat=True))
    assert (result.model_run, result.cold_start, len(ids)) == (trained.id, False, 10)
    assert len(set(ids)) == 10
    assert not set(ids) & rated
    assert [item.score for item in result.recommendations] == sorted(
        (item.score for item in result.recommendations), reverse=True
    )
    assert recommend(3) == result
    # Viewer 3 belongs to the first taste group: its best picks come from movies 1–20.
    assert all(item_id <= 20 for item_id in ids[:3])


def test_reasons_name_the_rated_movie(trained) -> None:
    reasons = [reason for item in recommend(3).recommendations for reason in item.reasons]
    because = [reason for reason in reasons if reason.because_item_id is not None]
    assert because
    rated = set(Rating.objects.filter(viewer_id=3).values_list("movie_id", flat=True))
    for reason in because:
        assert reason.because_item_id in rated
        movie = reason.because_item_id
        assert reason.text == f"Because you rated Movie {movie} (199{movie % 10})"


def test_a_new_rating_changes_the_next_answer(trained) -> None:
    first = recommend(3).recommendations[0].item_id

    Rating.objects.create(viewer_id=3, movie_id=first, score=5, rated_at=dt.datetime.now(dt.UTC))

    assert first not in [item.item_id for item in recommend(3).recommendations]


def test_exclude_removes_items(trained) -> None:
    first = recommend(3).recommendations[0].item_id
    assert first not in [i.item_id for i in recommend(3, exclude={3: [first]}).recommendations]


def test_unknown_viewer_gets_the_popularity_list(trained) -> None:
    result = recommend(999, topk=5)
    assert (result.cold_start, result.model_run, len(result.recommendations)) == (
        True,
        trained.id,
        5,
    )
    assert {reason.source for item in result.recommendations for reason in item.reasons} == {
        "popularity"
    }


def test_without_a_model_popularity_comes_from_the_ratings(synthetic_ratings) -> None:
    result = recommend(3, topk=5)
    rated = set(Rating.objects.filter(viewer_id=3).values_list("movie_id", flat=True))
    assert result.model_run is None
    assert len(result.recommendations) == 5
    assert not {item.item_id for item in result.recommendations} & rated


def test_activation_swaps_the_served_model(trained, fast_params) -> None:
    assert serving.active_model().run_id == trained.id
    second = model_run_execute(
        run_id=model_run_create(triggered_by="test", params=fast_params).id, activate=False
    )
    model_run_rollback(run_id=second.id)

    assert recommend(3).model_run == second.id


def test_a_corrupt_artifact_keeps_the_previous_model_serving(trained, fast_params) -> None:
    assert serving.active_model().run_id == trained.id
    second = model_run_execute(
        run_id=model_run_create(triggered_by="test", params=fast_params).id, activate=False
    )
    model_run_rollback(run_id=second.id)
    # Damaged on the shared storage after the switch, before this process loads it.
    with second.artifact.open("wb") as handle:
        handle.write(b"not an artifact")

    assert recommend(3).model_run == trained.id


def test_topk_must_be_positive(trained) -> None:
    with pytest.raises(ValueError, match="topk"):
        recommend(3, topk=0)


def test_answers_are_cached_until_the_history_changes(trained, monkeypatch) -> None:
    pipeline = serving.active_model().pipeline
    calls = []
    original = pipeline.recommend
    monkeypatch.setattr(
        pipeline, "recommend", lambda *a, **k: calls.append(k["user_ids"]) or original(*a, **k)
    )

    first = recommend(3)
    assert recommend(3) == first
    assert len(calls) == 1

    Rating.objects.filter(viewer_id=3).order_by("id").first().delete()
    recommend(3)
    assert len(calls) == 2


def test_a_cached_answer_costs_one_small_query(trained, django_assert_num_queries) -> None:
    first = recommend(3)

    # Only the viewer's history version: no history read, no ranking.
    with django_assert_num_queries(1):
        assert recommend(3) == first


def test_a_rating_edited_outside_the_api_misses_the_cache(trained, monkeypatch) -> None:
    pipeline = serving.active_model().pipeline
    calls = []
    original = pipeline.recommend
    monkeypatch.setattr(pipeline, "recommend", lambda *a, **k: calls.append(1) or original(*a, **k))
    recommend(3)
    rating = Rating.objects.filter(viewer_id=3).order_by("id").first()
    rating.score = 6 - rating.score  # as the admin's change form saves it
    rating.save()

    recommend(3)
    recommend(4)
    recommend(4)

    assert len(calls) == 3  # viewer 3 twice (history changed), viewer 4 once


def test_the_result_cache_can_be_turned_off(trained, settings, monkeypatch) -> None:
    settings.VIDEOREC_RESULT_CACHE_SECONDS = 0
    pipeline = serving.active_model().pipeline
    calls = []
    original = pipeline.recommend
    monkeypatch.setattr(pipeline, "recommend", lambda *a, **k: calls.append(1) or original(*a, **k))
    recommend(3)
    recommend(3)
    assert len(calls) == 2
