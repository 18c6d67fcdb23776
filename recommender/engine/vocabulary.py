"""Vocabularies of the categorical side data (genres, gender, occupation) and their codes.

Built once from the catalogue at training time and stored with the model, so the codes
a ranker learned keep their meaning when serving (values unseen then become NaN).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def genre_names(value: object) -> tuple[str, ...]:
    """The genre names of one ``items.genres`` cell (missing/NaN cells have none)."""
    return tuple(value) if isinstance(value, list | tuple | np.ndarray) else ()


def build_vocabulary(items: pd.DataFrame, users: pd.DataFrame) -> dict[str, list[str]]:
    """Sorted value lists of the categorical inputs (genres, gender, occupation).

    Parameters
    ----------
    items, users : pandas.DataFrame
        Side tables in the contract schema (may be empty).

    Returns
    -------
    dict of str to list of str
        Keys ``"genres"``, ``"gender"`` and ``"occupation"``.
    """
    return {
        "genres": sorted({name for cell in items["genres"] for name in genre_names(cell)}),
        "gender": sorted(users["gender"].dropna().unique().tolist()),
        "occupation": sorted(users["occupation"].dropna().unique().tolist()),
    }


def genre_matrix(genres: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> np.ndarray:
    """Multi-hot encode genre lists.

    Parameters
    ----------
    genres : sequence of sequences of str, length n
    vocabulary : sequence of str, length g

    Returns
    -------
    numpy.ndarray of float32, shape (n, g)
    """
    position = {name: column for column, name in enumerate(vocabulary)}
    encoded = np.zeros((len(genres), len(vocabulary)), dtype=np.float32)
    for row, names in enumerate(genres):
        for name in genre_names(names):
            if name in position:
                encoded[row, position[name]] = 1.0
    return encoded


def encode_categories(values: pd.Series, vocabulary: Sequence[str]) -> np.ndarray:
    """Positions of ``values`` in ``vocabulary``; NaN (LightGBM's missing category) if absent."""
    position = {name: code for code, name in enumerate(vocabulary)}
    return np.array([position.get(value, np.nan) for value in values], dtype=np.float64)
