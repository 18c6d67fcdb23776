"""``manage.py simulate_traffic`` against a live server: the trained run beats popularity."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from experiments.models import Experiment

N_VIEWERS = 48
N_MOVIES = 60


def write_clustered_grouplens(folder: Path) -> Path:
    """Two tastes: viewers 1–24 watch movies 1–30, viewers 25–48 movies 31–60.

    A few movies of each side are watched by everybody who likes that side, so popularity
    alone serves a mix of both sides while a personal model serves the viewer's own.
    """
    rng = np.random.default_rng(15)
    folder.mkdir(parents=True)
    flags = "|".join(["0"] * 19)
    (folder / "u.item").write_text(
        "".join(f"{m}|Movie {m} (1995)|01-Jan-1995||http://x/{m}|{flags}\n" for m in range(1, 61))
    )
    (folder / "u.user").write_text(
        "".join(f"{v}|{20 + v % 40}|{'MF'[v % 2]}|student|00000\n" for v in range(1, 49))
    )
    lines = []
    for viewer in range(1, N_VIEWERS + 1):
        side = range(1, 31) if viewer <= N_VIEWERS // 2 else range(31, 61)
        for step, movie in enumerate(rng.choice(list(side), size=16, replace=False)):
            lines.append(f"{viewer}\t{movie}\t{4 + step % 2}\t{880000000 + viewer * 100 + step}")
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def staff_token(transactional_db, django_user_model) -> str:
    user = django_user_model.objects.create_superuser("simulator", "sim@example.com", "pw")
    return Token.objects.create(user=user).key


@pytest.mark.django_db(transaction=True)
def test_a_small_simulation_says_the_trained_run_beats_popularity(
    live_server, staff_token, fast_defaults, tmp_path
) -> None:
    folder = write_clustered_grouplens(tmp_path / "clustered")
    report = tmp_path / "report.json"
    out = StringIO()
    call_command(
        "simulate_traffic",
        path=folder,
        base_url=live_server.url,
        token=staff_token,
        variants=["popularity:50", "active:50"],
        sessions=2,
        topk=5,
        settle=0.0,
        json=report,
        stdout=out,
    )
    outcome = json.loads(report.read_text())
    results = outcome["results"]
    popularity, active = results["variants"]
    assert [popularity["name"], active["name"]] == ["popularity", "active"]
    assert popularity["users"] + active["users"] == N_VIEWERS
    assert popularity["impressions"] + active["impressions"] == 2 * N_VIEWERS
    assert active["ctr"] > popularity["ctr"] and results["lift"] > 0
    assert 0 <= results["p_value"] <= 1 and results["srm_p_value"] > 0.001
    assert outcome["traffic"]["sticky_violations"] == 0
    # The command stops the experiment it created.
    assert Experiment.objects.get(id=outcome["experiment"]["id"]).status == "stopped"
    text = out.getvalue()
    assert "lift" in text and "simulated 48 viewers" in text


@pytest.mark.django_db(transaction=True)
def test_interleaving_credits_the_trained_run(
    live_server, staff_token, fast_defaults, tmp_path
) -> None:
    folder = write_clustered_grouplens(tmp_path / "clustered")
    report = tmp_path / "report.json"
    call_command(
        "simulate_traffic",
        path=folder,
        base_url=live_server.url,
        token=staff_token,
        variants=["popularity:50", "active:50"],
        mode="interleave",
        topk=6,
        settle=0.0,
        no_position_bias=True,
        json=report,
        stdout=StringIO(),
    )
    interleaving = json.loads(report.read_text())["results"]["interleaving"]
    assert interleaving["lists_won"]["active"] > interleaving["lists_won"]["popularity"]


def test_a_database_with_ratings_is_refused(synthetic_ratings, tmp_path) -> None:
    folder = write_clustered_grouplens(tmp_path / "clustered")
    with pytest.raises(CommandError, match=r"already holds .* ratings"):
        call_command("simulate_traffic", path=folder, token="x", stdout=StringIO())


@pytest.mark.django_db
def test_bad_arguments_are_refused_before_anything_is_loaded(tmp_path) -> None:
    folder = write_clustered_grouplens(tmp_path / "clustered")
    with pytest.raises(CommandError, match="strategy must be"):
        call_command("simulate_traffic", path=folder, variants=["nope:1", "active:1"])
    with pytest.raises(CommandError, match="VARIANT=SHARE"):
        call_command("simulate_traffic", path=folder, drop=["popularity"])
    with pytest.raises(CommandError, match=r"u\.data"):
        call_command("simulate_traffic", path=tmp_path / "missing")
