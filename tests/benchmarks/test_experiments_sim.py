"""The experiments benchmark's helpers: reading checkpoints, re-drawing clicks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from experiments_sim import per_viewer_ctr, viewers_needed

from experiments.simulation.data import World
from experiments.simulation.traffic import ClickModel


def checkpoint(viewers: int, p_value: float, interleaved: float = 1.0) -> dict:
    return {
        "viewers": viewers,
        "results": {"p_value": p_value, "interleaving": {"p_value": interleaved}},
    }


def test_viewers_needed_tells_the_first_crossing_from_the_lasting_one() -> None:
    points = [checkpoint(10, 0.2), checkpoint(20, 0.005), checkpoint(30, 0.02)]
    points += [checkpoint(40, 0.004), checkpoint(50, 0.001)]
    assert viewers_needed(points, interleave=False) == {"first": 20, "stays": 40, "final_p": 0.001}


def test_viewers_needed_reads_the_interleaving_block_and_may_never_get_there() -> None:
    points = [checkpoint(10, 0.001, 0.5), checkpoint(20, 0.001, 0.3)]
    assert viewers_needed(points, interleave=True) == {"first": None, "stays": None, "final_p": 0.3}


def test_per_viewer_ctr_is_the_share_of_lists_with_a_click() -> None:
    world = World(train=pd.DataFrame(), futures={1: frozenset({5}), 2: frozenset()})
    lists = {1: [(5, 6), (7, 8)], 2: [(5, 6)]}
    model = ClickModel(position_bias=False, noise=0.0)
    assert per_viewer_ctr(lists, world, model, np.random.default_rng(0)) == {1: 0.5, 2: 0.0}
