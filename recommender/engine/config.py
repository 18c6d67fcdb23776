"""Configuration of the recommender: recall sources, ranker folds, serving batches.

Every tuned hyper-parameter of a recall source is written once, in :data:`TUNED_SOURCES`:
the default pipeline (:func:`default_sources`) and the evaluation's single-source
baselines (:func:`baseline_sources`) both read it, so the figures of a run always compare
the system with baselines built from the same parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from recommender.engine.ranking import RankerConfig
from recommender.engine.recall import SOURCE_CLASSES, BaseRecallSource, ItemSimilaritySource

#: How the ranker's folds hold out labels: "time" (each user's latest ratings: learn the
#: next movies a viewer rates), "random" (any missing movie) or "mixed" (folds alternate
#: between the two, starting with "time").
LABEL_SPLITS = ("time", "random", "mixed")
#: What a held-out rating is worth to the ranker: "rated" (every rating counts 1) or
#: "liked" (graded: a rating >= 4 counts 2, a lower one 1).
RELEVANCES = ("rated", "liked")
ITEM_BASED_KINDS = frozenset(
    name for name, cls in SOURCE_CLASSES.items() if issubclass(cls, ItemSimilaritySource)
)

#: Named recall sources with their tuned hyper-parameters: name -> ``{"kind": ..., **params}``.
#:
#: Hyper-parameters were read off grids scored on validation splits carved from the
#: MovieLens-100k *training* parts only (``benchmarks/offline_eval.py --tune`` prints
#: them): EASE l2 300-700 (500 between the two protocols' optima), item-kNN k=200 /
#: shrinkage 10, RP3beta alpha 0.8 / beta 0.5, ALS 32 factors / reg 20 / alpha 2 (three
#: seeds averaged), sequence window 40 / last 50 items.
TUNED_SOURCES: Mapping[str, Mapping[str, Any]] = {
    "popularity": {"kind": "popularity"},
    "recent_popularity": {"kind": "popularity", "half_life_days": 30.0},
    # Top 200 neighbours: at ml-25m shape the whole co-occurrence matrix is nearly dense.
    "cooccurrence": {"kind": "cooccurrence", "normalization": "jaccard", "k": 200},
    "itemknn": {"kind": "itemknn", "k": 200, "shrinkage": 10.0},
    "ease": {"kind": "ease", "l2": 500.0},
    "rp3beta": {"kind": "rp3beta", "alpha": 0.8, "beta": 0.5, "k": 200},
    "sequence": {"kind": "sequence", "window": 40, "n_recent": 50, "recency_decay": 0.9},
    "als": {
        "kind": "als",
        "factors": 32,
        "regularization": 20.0,
        "alpha": 2.0,
        "n_models": 3,
        "iterations": 8,
    },
}
#: Sources of the default pipeline, in feature-column order. Co-occurrence, user-kNN and a
#: short-window sequence source were dropped: the ranker gave them little gain and each
#: cost ~1-2 ms per request (they remain available as source kinds).
DEFAULT_SOURCE_NAMES = (
    "popularity",
    "recent_popularity",
    "itemknn",
    "ease",
    "rp3beta",
    "sequence",
    "als",
)
#: Single-source baselines scored next to every system: the seed design's co-occurrence
#: and the usual single models.
BASELINE_NAMES = ("popularity", "cooccurrence", "itemknn", "ease")


def _tuned(names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    # Fresh dicts: callers (and dataclass defaults) may edit what they get.
    return {name: dict(TUNED_SOURCES[name]) for name in names}


def default_sources() -> dict[str, dict[str, Any]]:
    """Recall sources of the default pipeline: name -> ``{"kind": ..., **params}``."""
    return _tuned(DEFAULT_SOURCE_NAMES)


def baseline_sources() -> dict[str, dict[str, Any]]:
    """Single-source baselines of the offline evaluation: name -> ``{"kind": ..., **params}``."""
    return _tuned(BASELINE_NAMES)


def build_source(spec: Mapping[str, Any]) -> BaseRecallSource:
    """Instantiate an unfitted source from ``{"kind": ..., **params}``."""
    params = dict(spec)
    kind = params.pop("kind", None)
    if kind not in SOURCE_CLASSES:
        raise ValueError(f"unknown source kind {kind!r}; known: {sorted(SOURCE_CLASSES)}")
    return SOURCE_CLASSES[kind](**params)


@dataclass(frozen=True)
class PipelineConfig:
    """Hyper-parameters of the whole recommender (sources, ranker training, serving).

    Attributes
    ----------
    sources : dict
        Source name -> ``{"kind": ..., **params}``; must contain a
        ``"popularity"``-kind source (the cold-start fallback).
    n_candidates : int
        Top-N taken from every source per user.
    label_split : {"time", "random", "mixed"}
        How ranker folds hold out labels from the training ratings: each user's
        latest ``label_share`` (fold ``f`` steps back in time ``f`` times), a
        per-user random ``label_share`` (fold ``f`` uses seed ``seed + f``), or
        both in turn (even folds by time, odd folds at random).
    relevance : {"rated", "liked"}
        Ranker label of a held-out rating: 1 for every rating, or graded (2 for a
        rating >= 4, 1 otherwise).
    label_share : float
    n_folds : int
    random_fold_weight : float
        Weight of the ranker rows of random folds against time folds' 1 (only
        ``"mixed"`` has both). Lower favours the time protocol at the stratified one's
        expense: ``docs/benchmarks.md`` has the measured trade-off.
    validation_share : float
        Share of users whose groups form the early-stopping slice.
    similarity_source : str
        Item-based source used for ``recent_sim_*`` features and as the
        fallback explanation of non-item-based recommendations.
    ranker : RankerConfig
    refit_ranker : bool
        Refit the ranker on all users with the early-stopped tree count.
    refit_when_sampled : bool
        Refit even when the folds' viewers were sampled for ``ranker_row_budget``: there
        the data is not scarce (more viewers than the budget allows), so by default the
        early-stopped ranker is kept and the second LightGBM fit saved.
    feature_params : dict
        Keyword arguments of :class:`~recommender.engine.features.FeatureBuilder`.
    seed : int
    batch_size : int
        Users scored per batch (bounds the dense (batch, n_items) arrays).
    ranker_row_budget : int
        Ranker training rows allowed over all folds: each fold's labels come from a
        seeded sample of viewers sized to it (:mod:`recommender.engine.sampling`).
    like_feature : bool
        Give the ranker the like model's P(rating >= 4) of each candidate
        (``like_probability``), out-of-fold in training. Off: on MovieLens-100k it
        lowered NDCG@10 on both protocols and doubled the ranker's training time.
    """

    sources: dict[str, dict[str, Any]] = field(default_factory=default_sources)
    n_candidates: int = 50
    label_split: str = "time"
    relevance: str = "rated"
    label_share: float = 0.2
    n_folds: int = 2
    random_fold_weight: float = 1.0
    validation_share: float = 0.15
    similarity_source: str = "itemknn"
    ranker: RankerConfig = field(default_factory=RankerConfig)
    feature_params: dict[str, float] = field(default_factory=dict)
    refit_ranker: bool = True
    refit_when_sampled: bool = False
    seed: int = 0
    batch_size: int = 256
    ranker_row_budget: int = 2_000_000
    like_feature: bool = False

    def __post_init__(self) -> None:
        if self.label_split not in LABEL_SPLITS:
            raise ValueError(f"label_split must be one of {LABEL_SPLITS}, got {self.label_split!r}")
        if self.relevance not in RELEVANCES:
            raise ValueError(f"relevance must be one of {RELEVANCES}, got {self.relevance!r}")
        if not 0 < self.label_share < 1 or not 0 < self.validation_share < 1:
            raise ValueError("label_share and validation_share must be in (0, 1)")
        if self.random_fold_weight <= 0:
            raise ValueError(f"random_fold_weight must be > 0, got {self.random_fold_weight}")
        if self.n_folds < 1 or self.n_candidates < 1 or self.batch_size < 1:
            raise ValueError("n_folds, n_candidates and batch_size must be >= 1")
        if self.ranker_row_budget < 1:
            raise ValueError(f"ranker_row_budget must be >= 1, got {self.ranker_row_budget}")
        for spec in self.sources.values():
            build_source(spec)  # validates the kind and hyper-parameters early
        kinds = {spec.get("kind") for spec in self.sources.values()}
        if "popularity" not in kinds:
            raise ValueError("sources must include a popularity source (cold-start fallback)")
        if self.sources.get(self.similarity_source, {}).get("kind") not in ITEM_BASED_KINDS:
            raise ValueError(
                f"similarity_source {self.similarity_source!r} must name an item-based source"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (inverse of :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PipelineConfig:
        """Rebuild from :meth:`to_dict` output."""
        values = dict(values)
        values["ranker"] = RankerConfig(**values["ranker"])
        return cls(**values)
