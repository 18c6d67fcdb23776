"""Recall (candidate) sources sharing the :class:`~.base.RecallSource` protocol."""

from recommender.engine.recall.als import ALSSource
from recommender.engine.recall.base import (
    BaseRecallSource,
    ItemSimilaritySource,
    NotFittedError,
    RecallSource,
)
from recommender.engine.recall.cooccurrence import CooccurrenceSource
from recommender.engine.recall.ease import EASESource
from recommender.engine.recall.itemknn import ItemKNNSource
from recommender.engine.recall.popularity import PopularitySource
from recommender.engine.recall.rp3beta import RP3betaSource
from recommender.engine.recall.selection import top_n
from recommender.engine.recall.sequence import SequenceSource
from recommender.engine.recall.userknn import UserKNNSource

#: Source classes by their ``name``; artifacts rebuild sources from it.
SOURCE_CLASSES: dict[str, type[BaseRecallSource]] = {
    cls.name: cls
    for cls in (
        PopularitySource,
        CooccurrenceSource,
        ItemKNNSource,
        EASESource,
        RP3betaSource,
        SequenceSource,
        ALSSource,
        UserKNNSource,
    )
}

__all__ = [
    "SOURCE_CLASSES",
    "ALSSource",
    "BaseRecallSource",
    "CooccurrenceSource",
    "EASESource",
    "ItemKNNSource",
    "ItemSimilaritySource",
    "NotFittedError",
    "PopularitySource",
    "RP3betaSource",
    "RecallSource",
    "SequenceSource",
    "UserKNNSource",
    "top_n",
]
