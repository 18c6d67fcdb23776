"""Read a release-shaped folder (ml-25m layout, e.g. ``manage.py makemovielens``) or the
GroupLens ml-100k folder into the engine's :class:`InteractionData`, with pandas only.

Shared by the scale benchmarks (``scale_train.py``, ``als_compare.py``). The product
path reads PostgreSQL through the selectors instead; these frames have the same columns.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from recommender.engine.data import InteractionData  # noqa: E402


def read_release(path: Path) -> InteractionData:
    """``ratings.csv`` and ``movies.csv`` of the ml-20m/25m layout, or ml-100k's ``u.data``."""
    if (path / "u.data").exists():
        from offline_eval import read_movielens

        return read_movielens(path)
    ratings = pd.read_csv(
        path / "ratings.csv",
        dtype={"userId": "int64", "movieId": "int64", "rating": "float64", "timestamp": "int64"},
    ).rename(columns={"userId": "user_id", "movieId": "item_id"})
    movies = pd.read_csv(path / "movies.csv", dtype={"movieId": np.int64, "title": str})
    items = pd.DataFrame(
        {
            "item_id": movies["movieId"],
            "year": movies["title"].str.extract(r"\((\d{4})\)\s*$")[0].astype("float64"),
            "genres": [
                tuple(g for g in str(value).split("|") if g != "(no genres listed)")
                for value in movies["genres"]
            ],
            "title": movies["title"],
        }
    )
    return InteractionData(ratings=ratings, items=items)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (Linux ``ru_maxrss`` is KB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
