"""Serving scores a viewer from their newest ratings only; older ones still count as seen."""

from __future__ import annotations

import numpy as np
import pytest

from ingestion import histories, selectors
from ingestion.models import Rating
from recommender.services import serving

pytestmark = pytest.mark.django_db


def newest(viewer_id: int, n: int) -> list[int]:
    ratings = Rating.objects.filter(viewer_id=viewer_id).order_by("-rated_at")
    return sorted(ratings.values_list("movie_id", flat=True)[:n])


@pytest.mark.parametrize("viewer_ids", [[3], [3, 40, 41]], ids=["one viewer", "several"])
def test_recent_frame_keeps_the_newest_ratings_and_lists_every_seen_movie(
    synthetic_ratings, viewer_ids: list[int]
) -> None:
    frame, older = histories.recent_ratings_frame(viewer_ids=viewer_ids, latest=5)

    for viewer in viewer_ids:
        rows = frame[frame["user_id"] == viewer]
        assert sorted(rows["item_id"].tolist()) == newest(viewer, 5)
        rated = Rating.objects.filter(viewer_id=viewer).values_list("movie_id", flat=True)
        assert sorted(older[viewer].tolist()) == sorted(rated)
    full = selectors.ratings_frame(viewer_ids=viewer_ids)
    assert frame.dtypes.to_dict() == full.dtypes.to_dict()


def test_a_short_history_is_read_whole_with_nothing_older(synthetic_ratings) -> None:
    frame, older = histories.recent_ratings_frame(viewer_ids=[3, 999], latest=100)

    full = selectors.ratings_frame(viewer_ids=[3, 999])
    key = ["user_id", "item_id"]
    assert (
        frame.sort_values(key)
        .reset_index(drop=True)
        .equals(full.sort_values(key).reset_index(drop=True))
    )
    assert older == {}
    empty, none = histories.recent_ratings_frame(viewer_ids=[], latest=5)
    assert (len(empty), none) == (0, {})


def test_a_capped_history_never_recommends_an_older_rated_movie(trained, settings) -> None:
    settings.VIDEOREC_RESULT_CACHE_SECONDS = 0
    settings.VIDEOREC_SERVING_HISTORY = 2
    rated = set(Rating.objects.filter(viewer_id=3).values_list("movie_id", flat=True))

    (result,) = serving.recommendations_for_viewers(viewer_ids=[3], topk=20)

    ids = [item.item_id for item in result.recommendations]
    assert len(ids) == 20
    assert not set(ids) & rated
    # The whole history (fourteen ratings) excludes them just the same.
    settings.VIDEOREC_SERVING_HISTORY = 1000
    (whole,) = serving.recommendations_for_viewers(viewer_ids=[3], topk=20)
    assert not {item.item_id for item in whole.recommendations} & rated
    assert np.isfinite([item.score for item in result.recommendations]).all()
