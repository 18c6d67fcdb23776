"""Team-draft interleaving (Radlinski, Kurup & Joachims, CIKM 2008).

Two rankings are merged the way captains pick teams: the team with fewer picks so far
picks next (a fair coin decides when they are level), and it contributes its highest
ranked item not already in the merged list. Every position is credited to the team that
placed it, so a click on it is a vote for that ranking; the list's winner is the team
with more clicked positions (Chapelle, Joachims, Radlinski & Yue, TOIS 2012).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

TEAM_A = 0
TEAM_B = 1
TIE = -1


def team_draft(
    list_a: Sequence[int], list_b: Sequence[int], k: int, rng_seed: int
) -> tuple[list[int], list[int]]:
    """Merge two rankings by team draft.

    Parameters
    ----------
    list_a, list_b : sequence of int
        Item ids, best first (duplicates inside a list are skipped).
    k : int
        Length wanted; the result is shorter when the two lists hold fewer distinct items.
    rng_seed : int
        Seeds the coin flips (``random.Random``, reproducible across Python versions for
        an int seed), so the same request gives the same list.

    Returns
    -------
    items : list of int, length <= k
        Distinct item ids in display order.
    teams : list of int, same length
        ``0`` where ``list_a`` placed the item, ``1`` where ``list_b`` did.
    """
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k!r}")
    rng = random.Random(rng_seed)  # noqa: S311 - a reproducible coin, not a secret
    # One flat loop: this runs on every interleaved /recommend request.
    rankings = (list_a, list_b)
    lengths = (len(list_a), len(list_b))
    cursors = [0, 0]
    picks = [0, 0]
    placed: set[int] = set()
    items: list[int] = []
    teams: list[int] = []
    while len(items) < k:
        for side in (TEAM_A, TEAM_B):
            ranking, cursor = rankings[side], cursors[side]
            while cursor < lengths[side] and ranking[cursor] in placed:
                cursor += 1
            cursors[side] = cursor
        a_left, b_left = cursors[TEAM_A] < lengths[TEAM_A], cursors[TEAM_B] < lengths[TEAM_B]
        if a_left and b_left:
            if picks[TEAM_A] != picks[TEAM_B]:
                team = TEAM_A if picks[TEAM_A] < picks[TEAM_B] else TEAM_B
            else:
                team = TEAM_A if rng.random() < 0.5 else TEAM_B
        elif a_left or b_left:
            team = TEAM_A if a_left else TEAM_B
        else:
            break
        item = rankings[team][cursors[team]]
        placed.add(item)
        items.append(item)
        teams.append(team)
        picks[team] += 1
    return items, teams


def interleaving_outcome(teams_clicked: Sequence[int]) -> int:
    """Winner of one interleaved list from the teams of its clicked positions.

    Returns
    -------
    int
        ``0`` if team a got more clicks, ``1`` if team b did, ``-1`` on a tie (including
        no clicks at all).
    """
    unknown = set(teams_clicked) - {TEAM_A, TEAM_B}
    if unknown:
        raise ValueError(f"teams must be 0 or 1, got {sorted(unknown)!r}")
    clicks_a = sum(1 for team in teams_clicked if team == TEAM_A)
    clicks_b = len(teams_clicked) - clicks_a
    if clicks_a == clicks_b:
        return TIE
    return TEAM_A if clicks_a > clicks_b else TEAM_B
