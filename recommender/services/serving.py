"""Serving: a viewer's current history → candidates → features → LightGBM → top-K.

The active run's pipeline is loaded once per process and kept in memory. Which run is
active is looked up through the Django cache (one key, refreshed every few seconds or
at once when a run is activated), so a switch reaches every process without a restart;
a run whose artifact cannot be loaded is logged and the previous model keeps serving.
The API, ``manage.py recommend`` and its batch export all call
:func:`recommendations_for_viewers`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count

from ingestion import selectors as data_selectors
from ingestion.models import Genre, Movie, Rating

from ..models import ModelRun

if TYPE_CHECKING:
    from recommender.engine.pipeline import RecommendationBatch, RecommenderPipeline

logger = logging.getLogger(__name__)

ACTIVE_RUN_CACHE_KEY = "recommender:active-run"
#: How long a process trusts its idea of the active run when nobody announces a switch
#: (a local-memory cache is not shared between processes).
ACTIVE_RUN_RECHECK_SECONDS = 5
#: How long a process reuses the run id it last read, saving a cache round trip per
#: request; a switch announced elsewhere reaches it at most this late.
LOCAL_RECHECK_SECONDS = 1.0
NO_ACTIVE_RUN = 0
#: Longest list one request may ask for.
MAX_TOPK = 100

#: Reasons shown to viewers, by the kind of recall source that ranked the item highest.
SOURCE_REASONS = {
    "popularity": "Popular with viewers",
    "userknn": "Liked by viewers with similar taste",
    "als": "Matches your taste",
}
SIMILAR_ITEM_REASON = "Because you rated {title}"
SIMILAR_TASTE_REASON = "Similar to movies you rated"


@dataclass(frozen=True)
class Reason:
    source: str
    text: str
    because_item_id: int | None = None


@dataclass(frozen=True)
class RecommendedItem:
    item_id: int
    title: str
    score: float
    reasons: list[Reason] = field(default_factory=list)


@dataclass(frozen=True)
class ViewerRecommendations:
    user_id: int
    model_run: int | None
    cold_start: bool
    recommendations: list[RecommendedItem]


@dataclass(frozen=True)
class ActiveModel:
    run_id: int
    pipeline: RecommenderPipeline


_lock = threading.Lock()
_loaded: ActiveModel | None = None
_seen: tuple[float, int] = (-LOCAL_RECHECK_SECONDS, NO_ACTIVE_RUN)  # (monotonic s, run id)


def active_run_changed(run_id: int | None) -> None:
    """Announce a switch of the active run to every process sharing the cache."""
    global _seen
    cache.set(ACTIVE_RUN_CACHE_KEY, run_id or NO_ACTIVE_RUN, ACTIVE_RUN_RECHECK_SECONDS)
    _seen = (-LOCAL_RECHECK_SECONDS, NO_ACTIVE_RUN)


def forget_process_state() -> None:
    """Drop the loaded model and the remembered run id, as in a new process."""
    global _loaded, _seen
    _loaded, _seen = None, (-LOCAL_RECHECK_SECONDS, NO_ACTIVE_RUN)


def _active_run_id() -> int:
    global _seen
    checked_at, run_id = _seen
    now = time.monotonic()
    if now - checked_at < LOCAL_RECHECK_SECONDS:
        return run_id
    run_id = cache.get(ACTIVE_RUN_CACHE_KEY)
    if run_id is None:
        run_id = (
            ModelRun.objects.filter(is_active=True).values_list("id", flat=True).first()
            or NO_ACTIVE_RUN
        )
        cache.set(ACTIVE_RUN_CACHE_KEY, run_id, ACTIVE_RUN_RECHECK_SECONDS)
    _seen = (now, run_id)
    return run_id


def active_model() -> ActiveModel | None:
    """The active run's pipeline, loading it if this process does not hold it yet."""
    global _loaded
    run_id = _active_run_id()
    if run_id == NO_ACTIVE_RUN:
        return None
    current = _loaded
    if current is not None and current.run_id == run_id:
        return current
    # Imported on first use: LightGBM and scikit-learn take a second to import, which
    # every management command would otherwise pay through the URL checks.
    from recommender.engine.artifacts import ArtifactError, load_pipeline

    with _lock:
        if _loaded is not None and _loaded.run_id == run_id:
            return _loaded
        try:
            run = ModelRun.objects.get(id=run_id)
            with run.artifact.open("rb") as handle:
                _loaded = ActiveModel(run_id=run_id, pipeline=load_pipeline(handle))
            logger.info("serving model run %s", run_id)
        except (ModelRun.DoesNotExist, ArtifactError, OSError, ValueError) as exc:
            logger.error(
                "cannot load model run %s (%s); %s",
                run_id,
                exc,
                f"still serving run {_loaded.run_id}" if _loaded else "no model to serve",
            )
        return _loaded


class UnknownGenre(ValueError):
    pass


def recommendations_for_viewers(
    *,
    viewer_ids: Sequence[int],
    topk: int,
    exclude: Mapping[int, Collection[int]] | None = None,
    genres: Collection[str] = (),
    all_viewers: bool = False,
) -> list[ViewerRecommendations]:
    """Top-``topk`` unseen movies for each viewer, with reasons, best first.

    ``genres`` keeps movies of any of those genres (names as in the catalogue; an unknown
    one raises :class:`UnknownGenre`). ``all_viewers`` says that ``viewer_ids`` is every
    viewer, so histories are read in one pass over the ratings instead of by id.
    """
    if topk < 1:
        raise ValueError("topk must be at least 1")
    exclude = exclude or {}
    histories = data_selectors.ratings_frame(viewer_ids=None if all_viewers else viewer_ids)
    model = active_model()
    if model is None:
        if genres:
            outside = _movies_outside(genres)
            exclude = {v: {*exclude.get(v, ()), *outside} for v in viewer_ids}
        return _popular_without_model(viewer_ids, topk, histories, exclude)
    keys = _cache_keys(model.run_id, viewer_ids, histories, topk, genres, exclude)
    cached = cache.get_many(keys.values()) if settings.VIDEOREC_RESULT_CACHE_SECONDS else {}
    missing = [viewer for viewer in viewer_ids if keys[viewer] not in cached]
    if missing:
        wanted = {v: set(exclude.get(v, ())) for v in missing}
        if genres:
            outside = _movies_outside(genres)
            wanted = {v: items | outside for v, items in wanted.items()}
        batch = model.pipeline.recommend(
            histories[histories["user_id"].isin(missing)],
            user_ids=np.asarray(missing, dtype=np.int64),
            topk=topk,
            exclude=wanted,
        )
        fresh = {
            keys[result.user_id]: result
            for result in _describe(batch, model, set(histories["user_id"].tolist()))
        }
        if settings.VIDEOREC_RESULT_CACHE_SECONDS:
            cache.set_many(fresh, settings.VIDEOREC_RESULT_CACHE_SECONDS)
        cached = {**cached, **fresh}
    return [cached[keys[viewer]] for viewer in viewer_ids]


def _cache_keys(
    run_id: int,
    viewer_ids: Sequence[int],
    histories: pd.DataFrame,
    topk: int,
    genres: Collection[str],
    exclude: Mapping[int, Collection[int]],
) -> dict[int, str]:
    """One cache key per viewer, derived from everything the answer depends on.

    The viewer's history is part of the key, so a new or changed rating, from any
    process or from a bulk load, misses the cache by construction: nothing has to be
    invalidated, and a local-memory cache per process is as correct as a shared one.
    """
    users = histories["user_id"].to_numpy()
    rows = np.column_stack(
        [histories[column].to_numpy(np.float64) for column in ("item_id", "rating", "timestamp")]
    )
    order = np.lexsort((rows[:, 0], users))
    users, rows = users[order], rows[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if users.size else []
    ends = [*starts[1:], users.size] if users.size else []
    grouped = {
        int(users[start]): rows[start:end].tobytes()
        for start, end in zip(starts, ends, strict=True)
    }
    request = f"{topk}:{','.join(sorted(genres))}"
    keys = {}
    for viewer in viewer_ids:
        digest = hashlib.blake2b(grouped.get(viewer, b""), digest_size=12)
        digest.update(f"{request}:{sorted(exclude.get(viewer, ()))}".encode())
        keys[viewer] = f"recs:{run_id}:{viewer}:{digest.hexdigest()}"
    return keys


def _movies_outside(genres: Collection[str]) -> set[int]:
    known = dict(Genre.objects.filter(name__in=genres).values_list("name", "id"))
    missing = sorted(set(genres) - set(known))
    if missing:
        raise UnknownGenre(
            f"unknown genre {missing[0]!r}; known genres: "
            + ", ".join(Genre.objects.order_by("name").values_list("name", flat=True))
        )
    inside = Movie.objects.filter(genres__in=known.values()).values_list("id", flat=True)
    return set(Movie.objects.values_list("id", flat=True)) - set(inside)


def _describe(
    batch: RecommendationBatch, model: ActiveModel, with_history: set[int]
) -> list[ViewerRecommendations]:
    shown = np.concatenate([batch.item_ids.ravel(), batch.because_item_ids.ravel()])
    titles = dict(
        Movie.objects.filter(id__in=np.unique(shown[shown >= 0]).tolist()).values_list(
            "id", "title"
        )
    )
    kinds = {name: spec["kind"] for name, spec in model.pipeline.config.sources.items()}
    results = []
    for user_id in batch.user_ids.tolist():
        items = [
            RecommendedItem(
                item_id=rec.item_id,
                title=titles.get(rec.item_id, ""),
                score=rec.score,
                reasons=[
                    _reason(rec.source, kinds.get(rec.source, ""), rec.because_item_id, titles)
                ],
            )
            for rec in batch.for_user(user_id)
        ]
        results.append(
            ViewerRecommendations(
                user_id=user_id,
                model_run=model.run_id,
                cold_start=user_id not in with_history,
                recommendations=items,
            )
        )
    return results


def _reason(source: str, kind: str, because: int | None, titles: dict[int, str]) -> Reason:
    if because is not None and because in titles:
        return Reason(source, SIMILAR_ITEM_REASON.format(title=titles[because]), because)
    return Reason(source, SOURCE_REASONS.get(kind, SIMILAR_TASTE_REASON))


def _popular_without_model(
    viewer_ids: Sequence[int],
    topk: int,
    histories: pd.DataFrame,
    exclude: Mapping[int, Collection[int]],
) -> list[ViewerRecommendations]:
    """Before the first training: the most-rated movies each viewer has not rated."""
    seen = histories.groupby("user_id")["item_id"].apply(set).to_dict()
    longest = max((len(seen.get(v, ())) + len(exclude.get(v, ())) for v in viewer_ids), default=0)
    popular = list(
        Rating.objects.values("movie_id")
        .annotate(count=Count("id"))
        .order_by("-count", "movie_id")
        .values_list("movie_id", "count")[: topk + longest]
    )
    titles = dict(Movie.objects.filter(id__in=[m for m, _ in popular]).values_list("id", "title"))
    reason = Reason("popularity", SOURCE_REASONS["popularity"])
    results = []
    for viewer_id in viewer_ids:
        blocked = seen.get(viewer_id, set()) | set(exclude.get(viewer_id, ()))
        picks = [(m, c) for m, c in popular if m not in blocked][:topk]
        results.append(
            ViewerRecommendations(
                user_id=viewer_id,
                model_run=None,
                cold_start=viewer_id not in seen,
                recommendations=[
                    RecommendedItem(m, titles.get(m, ""), float(c), [reason]) for m, c in picks
                ],
            )
        )
    return results
