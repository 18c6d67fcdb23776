"""Serving: a viewer's current history → candidates → features → LightGBM → top-K.

The active run's pipeline comes from the registry, which holds it in process memory.
The API, ``manage.py recommend`` and its batch export all call
:func:`recommendations_for_viewers`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.cache import cache, caches

from ingestion import histories as history_selectors
from ingestion import selectors as data_selectors
from ingestion.models import Genre, Movie
from ingestion.overview import most_rated_counts

from ..registry import ActiveModel, active_model, run_model
from .answers import Reason, RecommendedItem, ViewerRecommendations, addressed, rendered

if TYPE_CHECKING:
    from recommender.engine.scoring import RecommendationBatch

#: Longest list one request may ask for.
MAX_TOPK = 100

#: Reasons shown to viewers, by the kind of recall source that ranked the item highest.
SOURCE_REASONS = {
    "popularity": "Popular with viewers",
    "userknn": "Liked by viewers with similar taste",
    "als": "Matches your taste",
}
#: Before the first training, popularity is counted from the ratings; the most-rated
#: ``MOST_RATED_KEPT`` movies are cached for ``MOST_RATED_CACHE_SECONDS`` (a viewer who
#: rated nearly all of them gets a shorter list until a model is trained).
MOST_RATED_CACHE_KEY = "recs:most-rated"
MOST_RATED_CACHE_SECONDS = 60
MOST_RATED_KEPT = 1000
SIMILAR_ITEM_REASON = "Because you rated {title}"
SIMILAR_TASTE_REASON = "Similar to movies you rated"


class UnknownGenre(ValueError):
    pass


#: Functions naming movies each viewer must not be shown (the experiments app registers
#: dislikes). Asked on a cache miss only: whoever adds such a movie bumps the viewer's
#: history version, as a new rating does, so the cached answer is never served again.
Exclusions = Callable[[Sequence[int]], Mapping[int, Collection[int]]]
_exclusion_sources: list[Exclusions] = []


def register_exclusions(source: Exclusions) -> None:
    """Leave ``source``'s movies out of every answer computed from now on (once)."""
    if source not in _exclusion_sources:
        _exclusion_sources.append(source)


def _with_registered(
    exclude: Mapping[int, Collection[int]], viewer_ids: Sequence[int]
) -> dict[int, set[int]]:
    merged = {viewer: set(exclude.get(viewer, ())) for viewer in viewer_ids}
    for source in _exclusion_sources:
        for viewer, items in source(viewer_ids).items():
            merged.setdefault(viewer, set()).update(items)
    return merged


def recommendations_for_viewers(
    *,
    viewer_ids: Sequence[int],
    topk: int,
    exclude: Mapping[int, Collection[int]] | None = None,
    genres: Collection[str] = (),
    run_id: int | None = None,
    popularity: bool = False,
) -> list[ViewerRecommendations]:
    """Top-``topk`` unseen movies for each viewer, with reasons, best first.

    ``genres`` keeps movies of any of those genres (names as in the catalogue; an unknown
    one raises :class:`UnknownGenre`). Each viewer is scored from their newest
    ``VIDEOREC_SERVING_HISTORY`` ratings (older ones only count as seen), so a request
    costs the same for a viewer with 50 ratings as for one with 30,000.
    ``run_id`` serves that run instead of the active one (experiments; the active run if
    it cannot be loaded); ``popularity`` serves the model's popularity list instead of
    its ranking (the experiments' baseline).
    """
    (results,) = _lists(viewer_ids, topk, exclude or {}, genres, [(run_id, popularity)])
    return results


#: A serving strategy: ``(run_id, popularity)`` as :func:`recommendations_for_viewers`
#: takes them.
Strategy = tuple[int | None, bool]


def recommendation_lists(
    *,
    viewer_id: int,
    topk: int,
    strategies: Sequence[Strategy],
    exclude: Collection[int] = (),
    genres: Collection[str] = (),
) -> list[ViewerRecommendations]:
    """One viewer's list under each strategy (e.g. the two variants an interleaving
    merges), the viewer's history version read once for all of them."""
    lists = _lists([viewer_id], topk, {viewer_id: exclude}, genres, strategies)
    return [results[0] for results in lists]


def _lists(
    viewer_ids: Sequence[int],
    topk: int,
    exclude: Mapping[int, Collection[int]],
    genres: Collection[str],
    strategies: Sequence[Strategy],
) -> list[list[ViewerRecommendations]]:
    if topk < 1:
        raise ValueError("topk must be at least 1")
    versions: tuple[dict[int, int], int] | None = None
    lists = []
    for run_id, popularity in strategies:
        model = active_model() if run_id is None else (run_model(run_id=run_id) or active_model())
        if model is None:
            lists.append(_without_model(viewer_ids, topk, exclude, genres))
            continue
        # The versions are read before the histories: an answer is then never stored under
        # a version older than the history (or the catalogue) it was computed from.
        if versions is None:
            versions = data_selectors.serving_versions(viewer_ids=viewer_ids)
        lists.append(_with_model(model, versions, viewer_ids, topk, exclude, genres, popularity))
    return lists


def _without_model(
    viewer_ids: Sequence[int],
    topk: int,
    exclude: Mapping[int, Collection[int]],
    genres: Collection[str],
) -> list[ViewerRecommendations]:
    exclude = _with_registered(exclude, viewer_ids)
    histories = data_selectors.ratings_frame(viewer_ids=viewer_ids)
    if genres:
        outside = _movies_outside(genres)
        exclude = {v: {*exclude.get(v, ()), *outside} for v in viewer_ids}
    return rendered(_popular_without_model(viewer_ids, topk, histories, exclude))


def _with_model(
    model: ActiveModel,
    serving_versions: tuple[dict[int, int], int],
    viewer_ids: Sequence[int],
    topk: int,
    exclude: Mapping[int, Collection[int]],
    genres: Collection[str],
    popularity: bool,
) -> list[ViewerRecommendations]:
    """The model's answers, from the cache (process, then shared) or computed and cached."""
    versions, catalogue = serving_versions
    keys = {}
    if settings.VIDEOREC_RESULT_CACHE_SECONDS:
        namespace = f"{model.cache_namespace}:c{catalogue}" + (":popular" if popularity else "")
        keys = _cache_keys(namespace, versions, viewer_ids, topk, genres, exclude)
    cached = _cached_answers(list(keys.values())) if keys else {}
    missing = [viewer for viewer in viewer_ids if keys.get(viewer) not in cached]
    fresh = {}
    if missing:
        # Registered exclusions only for viewers with their own cache key: unknown viewers
        # share the cold-start answer.
        known = [viewer for viewer in missing if viewer in versions]
        exclude = {**exclude, **_with_registered(exclude, known)}
        fresh = _computed(model, catalogue, missing, topk, genres, exclude, popularity)
    if keys and fresh:
        answers = {keys[viewer]: result for viewer, result in fresh.items()}
        for level in (caches["process"], cache):
            level.set_many(answers, settings.VIDEOREC_RESULT_CACHE_SECONDS)
    return [
        fresh[viewer] if viewer in fresh else addressed(cached[keys[viewer]], viewer)
        for viewer in viewer_ids
    ]


def _computed(
    model: ActiveModel,
    catalogue: int,
    viewer_ids: list[int],
    topk: int,
    genres: Collection[str],
    exclude: Mapping[int, Collection[int]],
    popularity: bool = False,
) -> dict[int, ViewerRecommendations]:
    """Score these viewers with the model, leaving out movies gone from the catalogue."""
    histories, older = history_selectors.recent_ratings_frame(
        viewer_ids=viewer_ids, latest=settings.VIDEOREC_SERVING_HISTORY
    )
    blocked = _movies_gone(model, catalogue)
    if genres:
        blocked = blocked | _movies_outside(genres)
    wanted = {
        v: {*exclude.get(v, ()), *blocked, *older.get(v, np.empty(0)).tolist()} for v in viewer_ids
    }
    with_history = set(histories["user_id"].tolist())
    if popularity:
        # The popularity baseline is the model's cold-start list: the history is only
        # excluded, never ranked from.
        for viewer, items in histories.groupby("user_id")["item_id"]:
            wanted.setdefault(viewer, set()).update(items.tolist())
        histories = histories.iloc[:0]
    from recommender.engine.scoring import recommend  # first use: see active_model()

    batch = recommend(
        model.recommender,
        histories,
        user_ids=np.asarray(viewer_ids, dtype=np.int64),
        topk=topk,
        exclude=wanted,
    )
    described = _describe(batch, model, with_history)
    return {result.user_id: result for result in rendered(described)}


def _movies_gone(model: ActiveModel, catalogue: int) -> frozenset[int]:
    """The model's movies no longer in the catalogue (deleted since it was trained).

    Read once per process, model and catalogue version: it reads every movie id.
    """
    key = f"recs:gone:{model.cache_namespace}:c{catalogue}"
    gone = caches["process"].get(key)
    if gone is None:
        items = model.recommender.item_index.ids
        present = np.isin(items, data_selectors.catalogue_movie_ids())
        gone = frozenset(items[~present].tolist())
        caches["process"].set(key, gone, None)
    return gone


def _cached_answers(keys: list[str]) -> dict[str, ViewerRecommendations]:
    """Answers held by this process, then by the shared cache (copied into this process)."""
    found = caches["process"].get_many(keys)
    if len(found) < len(keys):
        shared = cache.get_many([key for key in keys if key not in found])
        caches["process"].set_many(shared, settings.VIDEOREC_RESULT_CACHE_SECONDS)
        found |= shared
    return found


def _cache_keys(
    namespace: str,
    versions: Mapping[int, int],
    viewer_ids: Sequence[int],
    topk: int,
    genres: Collection[str],
    exclude: Mapping[int, Collection[int]],
) -> dict[int, str]:
    """One cache key per viewer, derived from everything the answer depends on.

    ``namespace`` names the model and the catalogue version. The viewer's history version
    is bumped in the database by every rating change (from any process, the admin, or a
    bulk load), so a changed history misses the cache by construction: nothing has to be
    invalidated, and a local-memory cache per process is as correct as a shared one.
    Unknown viewers (no row) all get the same cold-start answer, under one key without
    their id: made-up ids must not fill the cache.
    """
    keys = {}
    for viewer in viewer_ids:
        options = str(topk)
        if genres or exclude.get(viewer):
            # Hashed: filters are client input, and cache keys must stay short and plain.
            wanted = f"{options}:{sorted(genres)}:{sorted(exclude.get(viewer, ()))}"
            options = hashlib.blake2b(wanted.encode(), digest_size=12).hexdigest()
        who = f"{viewer}:{versions[viewer]}" if viewer in versions else "cold-start"
        # "v3": the catalogue version joined the key.
        keys[viewer] = f"recs:v3:{namespace}:{who}:{options}"
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
    kinds = {name: spec["kind"] for name, spec in model.recommender.config.sources.items()}
    results = []
    for user_id in batch.user_ids.tolist():
        # A movie deleted while this answer was computed has no title: it is left out.
        items = [
            RecommendedItem(
                item_id=rec.item_id,
                title=titles[rec.item_id],
                score=rec.score,
                reasons=[
                    _reason(rec.source, kinds.get(rec.source, ""), rec.because_item_id, titles)
                ],
            )
            for rec in batch.for_user(user_id)
            if rec.item_id in titles
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


def _most_rated() -> list[tuple[int, int]]:
    """The most-rated movies with their counts, best first, cached for a minute.

    On a large table they come from the data overview's snapshot, kept up to date with
    the ratings added since (see ``most_rated_counts``), not from a pass over every rating.
    """
    popular = cache.get(MOST_RATED_CACHE_KEY)
    if popular is None:
        popular = most_rated_counts(limit=MOST_RATED_KEPT)
        cache.set(MOST_RATED_CACHE_KEY, popular, MOST_RATED_CACHE_SECONDS)
    return popular


def _popular_without_model(
    viewer_ids: Sequence[int],
    topk: int,
    histories: pd.DataFrame,
    exclude: Mapping[int, Collection[int]],
) -> list[ViewerRecommendations]:
    """Before the first training: the most-rated movies each viewer has not rated."""
    seen = histories.groupby("user_id")["item_id"].apply(set).to_dict()
    longest = max((len(seen.get(v, ())) + len(exclude.get(v, ())) for v in viewer_ids), default=0)
    popular = _most_rated()[: topk + longest]
    titles = dict(Movie.objects.filter(id__in=[m for m, _ in popular]).values_list("id", "title"))
    reason = Reason("popularity", SOURCE_REASONS["popularity"])
    results = []
    for viewer_id in viewer_ids:
        blocked = seen.get(viewer_id, set()) | set(exclude.get(viewer_id, ()))
        picks = [(m, c) for m, c in popular if m not in blocked and m in titles][:topk]
        results.append(
            ViewerRecommendations(
                user_id=viewer_id,
                model_run=None,
                cold_start=viewer_id not in seen,
                recommendations=[
                    RecommendedItem(m, titles[m], float(c), [reason]) for m, c in picks
                ],
            )
        )
    return results
