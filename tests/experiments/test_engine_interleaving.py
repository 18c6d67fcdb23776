"""Team-draft interleaving (pure, no database)."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.engine.interleaving import interleaving_outcome, team_draft

LIST_A = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
LIST_B = [19, 12, 20, 21, 10, 22, 23, 24, 25, 26]


def subsequence_in_order(picked: list[int], ranking: list[int]) -> bool:
    positions = [ranking.index(item) for item in picked]
    return positions == sorted(positions)


@pytest.mark.parametrize("seed", range(50))
def test_each_team_places_its_own_items_in_its_own_order(seed: int) -> None:
    items, teams = team_draft(LIST_A, LIST_B, 10, seed)
    picked_a = [item for item, team in zip(items, teams, strict=True) if team == 0]
    picked_b = [item for item, team in zip(items, teams, strict=True) if team == 1]
    assert set(picked_a) <= set(LIST_A) and set(picked_b) <= set(LIST_B)
    assert subsequence_in_order(picked_a, LIST_A)
    assert subsequence_in_order(picked_b, LIST_B)


@pytest.mark.parametrize("seed", range(50))
def test_each_pick_is_the_teams_best_item_not_yet_placed(seed: int) -> None:
    items, teams = team_draft(LIST_A, LIST_B, 10, seed)
    for position, (item, team) in enumerate(zip(items, teams, strict=True)):
        ranking = (LIST_A, LIST_B)[team]
        best = next(candidate for candidate in ranking if candidate not in items[:position])
        assert item == best


@pytest.mark.parametrize("seed", range(50))
def test_teams_stay_balanced_and_items_distinct(seed: int) -> None:
    items, teams = team_draft(LIST_A, LIST_B, 10, seed)
    assert len(items) == 10 and len(set(items)) == 10
    for prefix in range(1, 11):
        # The team behind always picks next, so counts never differ by more than one.
        assert abs(teams[:prefix].count(0) - teams[:prefix].count(1)) <= 1


def test_the_coin_is_fair_and_seeded() -> None:
    first_team = [team_draft(LIST_A, LIST_B, 4, seed)[1][0] for seed in range(2000)]
    assert 0.45 < np.mean(first_team) < 0.55
    assert team_draft(LIST_A, LIST_B, 10, 7) == team_draft(LIST_A, LIST_B, 10, 7)
    assert len({tuple(team_draft(LIST_A, LIST_B, 10, s)[0]) for s in range(20)}) > 1


def test_identical_lists_give_the_same_list_with_split_credit() -> None:
    items, teams = team_draft(LIST_A, LIST_A, 6, 3)
    assert items == LIST_A[:6]
    assert teams.count(0) == teams.count(1) == 3


def test_short_lists_give_a_shorter_result_and_the_longer_list_fills_in() -> None:
    items, teams = team_draft([1, 2], [3, 4, 5, 6, 7], 6, 0)
    assert items[:4] in ([1, 3, 2, 4], [3, 1, 4, 2])
    assert items[4:] == [5, 6] and teams[4:] == [1, 1]
    assert team_draft([1], [1], 5, 0)[0] == [1]
    assert team_draft([], [], 5, 0) == ([], [])
    assert team_draft([], [4, 5], 5, 0) == ([4, 5], [1, 1])


def test_duplicates_inside_a_list_are_placed_once() -> None:
    items, teams = team_draft([1, 1, 2, 2], [2, 1, 3], 10, 0)
    assert sorted(items) == [1, 2, 3]
    assert len(teams) == 3


def test_k_limits_the_length() -> None:
    assert team_draft(LIST_A, LIST_B, 0, 0) == ([], [])
    assert len(team_draft(LIST_A, LIST_B, 3, 0)[0]) == 3
    with pytest.raises(ValueError, match="k must be non-negative"):
        team_draft(LIST_A, LIST_B, -1, 0)


def test_clicks_are_credited_to_the_team_that_placed_the_item() -> None:
    items, teams = team_draft(LIST_A, LIST_B, 10, 0)
    # A viewer who only likes list a's exclusive items votes for a, and vice versa.
    clicked_a = [teams[items.index(i)] for i in items if i in set(LIST_A) - set(LIST_B)]
    clicked_b = [teams[items.index(i)] for i in items if i in set(LIST_B) - set(LIST_A)]
    assert interleaving_outcome(clicked_a) == 0
    assert interleaving_outcome(clicked_b) == 1


@pytest.mark.parametrize(
    ("clicked", "winner"),
    [([], -1), ([0], 0), ([1], 1), ([0, 1], -1), ([0, 0, 1], 0), ([1, 1, 0], 1)],
)
def test_outcome(clicked: list[int], winner: int) -> None:
    assert interleaving_outcome(clicked) == winner


def test_outcome_refuses_unknown_teams() -> None:
    with pytest.raises(ValueError, match="teams must be 0 or 1"):
        interleaving_outcome([0, 2])
