"""The simulated world: a MovieLens split, training part for the server, future for viewers."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.engine.splits import stratified_split, time_split

#: Files of a GroupLens folder copied unchanged next to the training ``u.data``.
SIDE_FILES = ("u.item", "u.user", "u.genre", "u.occupation")
SPLITS = ("stratified", "time")


@dataclass(frozen=True)
class World:
    """The training ratings (what the server learns from) and each viewer's future.

    ``futures[user_id]`` is the set of movies the viewer rates in the held-out part:
    the movies they would click if shown.
    """

    train: pd.DataFrame
    futures: dict[int, frozenset[int]]

    @property
    def viewers(self) -> list[int]:
        """Viewers with a future, in id order."""
        return sorted(self.futures)


def read_grouplens_ratings(path: Path) -> pd.DataFrame:
    """``u.data`` of a GroupLens (MovieLens-100k layout) folder."""
    data = Path(path) / "u.data"
    if not data.is_file():
        raise FileNotFoundError(f"{data} does not exist: --path must be a GroupLens folder")
    return pd.read_csv(
        data,
        sep="\t",
        names=["user_id", "item_id", "rating", "timestamp"],
        dtype={"user_id": "int64", "item_id": "int64", "rating": "float64", "timestamp": "int64"},
    )


def build_world(
    ratings: pd.DataFrame, *, split: str, holdout: float, seed: int, min_rating: float = 0.0
) -> World:
    """Split ``ratings`` per viewer: ``holdout`` of each viewer's ratings is their future.

    ``split="stratified"`` holds out a random share per viewer (seeded), ``"time"`` each
    viewer's latest ratings. Only held-out ratings ``>= min_rating`` count as the future
    (0 keeps every watched movie, as the offline evaluation does).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be strictly between 0 and 1, got {holdout!r}")
    if split == "time":
        train, test = time_split(ratings, 1 - holdout)
    else:
        train, test = stratified_split(ratings, 1 - holdout, seed=seed)
    test = test[test["rating"] >= min_rating]
    futures = {
        int(user): frozenset(int(item) for item in items)
        for user, items in test.groupby("user_id")["item_id"]
    }
    return World(train=train, futures=futures)


def write_training_folder(source: Path, train: pd.DataFrame, destination: Path) -> Path:
    """A GroupLens folder holding the training ratings and ``source``'s other files."""
    destination.mkdir(parents=True, exist_ok=True)
    columns = ["user_id", "item_id", "rating", "timestamp"]
    frame = train[columns].copy()
    # u.data holds whole stars; keep its integer format so loadml100k reads it unchanged.
    if np.all(frame["rating"] == frame["rating"].round()):
        frame["rating"] = frame["rating"].astype("int64")
    frame.to_csv(destination / "u.data", sep="\t", header=False, index=False)
    for name in SIDE_FILES:
        if (Path(source) / name).is_file():
            shutil.copy(Path(source) / name, destination / name)
    return destination
