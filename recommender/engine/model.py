"""The fitted recommender as a value: what training produces and serving reads.

:func:`recommender.engine.training.fit_sources` creates a model without a ranker (enough
for the recall tables), :func:`~recommender.engine.training.fit_ranker` returns a copy
with the ranker, :func:`recommender.engine.scoring.recommend` serves it and
:mod:`recommender.engine.artifacts` stores it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recommender.engine.config import PipelineConfig
from recommender.engine.data import IdIndex
from recommender.engine.features import LIKE_PROBABILITY, FeatureBuilder, source_feature_names
from recommender.engine.liking import LikeModel
from recommender.engine.ranking import LightGBMRanker
from recommender.engine.recall import BaseRecallSource


@dataclass(frozen=True)
class RecommenderModel:
    """Fitted recall sources, feature builder and (optionally) ranker.

    Attributes
    ----------
    config : PipelineConfig
        The configuration the model was fitted with.
    item_index : IdIndex
        The catalogue: item id <-> column of every matrix below.
    sources : dict of str to BaseRecallSource
        Fitted recall sources, in ``config.sources`` order.
    features : FeatureBuilder
        Fitted on the same ratings as ``sources``.
    vocabulary : dict of str to list of str
        Categorical values (genres, gender, occupation) the features encode.
    ranker : LightGBMRanker or None
        ``None`` until :func:`~recommender.engine.training.fit_ranker`.
    like : LikeModel or None
        P(rating >= 4) of a pair, trained with the ranker (``None`` before, or when
        the data were too small to train it).
    fit_report : dict
        JSON-serialisable facts about the fit (timings, fold candidate recall, tree
        count, feature importance).
    """

    config: PipelineConfig
    item_index: IdIndex
    sources: dict[str, BaseRecallSource]
    features: FeatureBuilder
    vocabulary: dict[str, list[str]]
    ranker: LightGBMRanker | None = None
    like: LikeModel | None = None
    fit_report: dict[str, Any] = field(default_factory=dict)

    @property
    def has_ranker(self) -> bool:
        """Both training stages are done: the model can recommend."""
        return self.ranker is not None

    @property
    def feature_names(self) -> list[str]:
        """Ranker feature names, in column order."""
        like = [LIKE_PROBABILITY] if self.config.like_feature else []
        return [
            *source_feature_names(list(self.config.sources)),
            *self.features.feature_names,
            *like,
        ]

    @property
    def popularity_source(self) -> BaseRecallSource:
        """The first popularity-kind source: the cold-start list."""
        return next(
            source
            for name, source in self.sources.items()
            if self.config.sources[name]["kind"] == "popularity"
        )
