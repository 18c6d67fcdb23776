"""Tiny synthetic two-block ratings shared by the engine and benchmark tests (no Django)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.engine.data import InteractionData

# External ids are deliberately not 0..n-1 so id <-> index mapping is exercised.
ITEM_OFFSET = 1000
N_USERS, N_ITEMS, PER_USER = 60, 40, 10
START = 880_000_000


def block_ratings(seed: int = 0) -> pd.DataFrame:
    """Users 1-30 rate only items 1000-1019 (block A), users 31-60 only 1020-1039 (B).

    Inside a block, the first eight items are "classics" rated by many users and
    ratings of block items are mostly high, so every signal agrees on the blocks.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, N_USERS + 1):
        block = 0 if user <= N_USERS // 2 else N_ITEMS // 2
        weights = np.r_[np.full(8, 3.0), np.ones(12)]
        items = rng.choice(20, size=PER_USER, replace=False, p=weights / weights.sum()) + block
        times = START + user * 1000 + np.sort(rng.choice(900, size=PER_USER, replace=False)) * 60
        for item, time in zip(items, times, strict=True):
            rows.append((user, ITEM_OFFSET + int(item), float(rng.integers(3, 6)), int(time)))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def block_items() -> pd.DataFrame:
    ids = np.arange(ITEM_OFFSET, ITEM_OFFSET + N_ITEMS + 1)  # the last item has no ratings
    genres = [("Action",) if i < N_ITEMS // 2 else ("Drama", "Romance") for i in range(len(ids))]
    return pd.DataFrame(
        {
            "item_id": ids,
            "year": np.where(np.arange(len(ids)) % 5 == 0, np.nan, 1990.0 + np.arange(len(ids))),
            "genres": genres,
            "title": [f"Movie {i}" for i in ids],
        }
    )


def block_users() -> pd.DataFrame:
    users = np.arange(1, N_USERS - 4)  # the last users have no demographic row
    return pd.DataFrame(
        {
            "user_id": users,
            "age": 20 + users % 40,
            "gender": np.where(users % 2 == 0, "M", "F"),
            "occupation": np.where(users % 3 == 0, "writer", "student"),
            "zip_code": "12345",
        }
    )


def block_data() -> InteractionData:
    """Ratings of :func:`block_ratings` with their item and user tables."""
    return InteractionData(ratings=block_ratings(), items=block_items(), users=block_users())


def make_history(user: int, items: list[int]) -> pd.DataFrame:
    """A fresh history (newer than all training data), later items more recent."""
    return pd.DataFrame(
        {
            "user_id": user,
            "item_id": items,
            "rating": 5.0,
            "timestamp": START + 10_000_000 + np.arange(len(items)) * 60,
        }
    )
