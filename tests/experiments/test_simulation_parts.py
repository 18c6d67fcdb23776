"""The simulator's pure parts: the world split, the click model, variant arguments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.engine.assignment import assign_variant
from experiments.simulation.data import World, build_world, write_training_folder
from experiments.simulation.experiments import (
    experiment_spec,
    parse_variant,
    predicted_assignment,
    results_summary,
)
from experiments.simulation.traffic import (
    NEW_VISITOR_FIRST_ID,
    ClickModel,
    TrafficOptions,
    choose_viewers,
    drive_traffic,
    visitors,
)


def ratings(n_users: int = 20, per_user: int = 8) -> pd.DataFrame:
    rows = [
        (user, 100 + (user * 7 + k) % 40, 1 + (user + k) % 5, 1_000 + k)
        for user in range(1, n_users + 1)
        for k in range(per_user)
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


@pytest.mark.parametrize("split", ["stratified", "time"])
def test_the_world_holds_out_a_share_of_every_viewer(split: str) -> None:
    frame = ratings()
    world = build_world(frame, split=split, holdout=0.25, seed=1)
    assert len(world.train) == 20 * 6
    assert world.viewers == list(range(1, 21))
    for user, future in world.futures.items():
        trained = set(world.train.loc[world.train["user_id"] == user, "item_id"])
        assert len(future) == 2 and not future & trained


def test_the_time_split_holds_out_the_latest_ratings() -> None:
    world = build_world(ratings(), split="time", holdout=0.25, seed=0)
    assert world.train["timestamp"].max() == 1_005


def test_min_rating_keeps_only_liked_futures() -> None:
    frame = ratings()
    world = build_world(frame, split="stratified", holdout=0.5, seed=3, min_rating=4)
    liked = set(map(tuple, frame.loc[frame["rating"] >= 4, ["user_id", "item_id"]].to_numpy()))
    assert all((user, item) in liked for user, f in world.futures.items() for item in f)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"split": "random", "holdout": 0.2}, "split must be"), ({"holdout": 1.0}, "holdout")],
)
def test_bad_split_arguments_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_world(ratings(), **{"split": "stratified", "seed": 0, **kwargs})


def test_the_training_folder_is_a_grouplens_folder(tmp_path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "u.item").write_text("1|Toy Story (1995)|...\n")
    frame = ratings(3, 4)
    folder = write_training_folder(source, frame, tmp_path / "out")
    lines = (folder / "u.data").read_text().splitlines()
    assert lines[0].split("\t") == ["1", "107", "2", "1000"]
    assert (folder / "u.item").read_text() == (source / "u.item").read_text()
    assert not (folder / "u.user").exists()


def test_without_position_bias_or_noise_exactly_the_future_is_clicked() -> None:
    model = ClickModel(position_bias=False, noise=0.0)
    rng = np.random.default_rng(0)
    assert model.clicked_positions([5, 6, 7, 8], frozenset({6, 8, 99}), rng) == [1, 3]
    assert model.clicked_positions([], frozenset({6}), rng) == []


def test_position_bias_follows_the_dcg_discount() -> None:
    model = ClickModel(position_bias=True)
    rng = np.random.default_rng(1)
    items = list(range(10))
    counts = np.zeros(10)
    for _ in range(4000):
        counts[model.clicked_positions(items, frozenset(items), rng)] += 1
    expected = 1 / np.log2(np.arange(1, 11) + 1)
    assert counts / 4000 == pytest.approx(expected, abs=0.03)


def test_noise_clicks_movies_outside_the_future() -> None:
    model = ClickModel(position_bias=False, noise=0.2)
    rng = np.random.default_rng(2)
    clicks = sum(
        len(model.clicked_positions(list(range(10)), frozenset(), rng)) for _ in range(500)
    )
    assert clicks / 5000 == pytest.approx(0.2, abs=0.02)
    with pytest.raises(ValueError, match="noise"):
        ClickModel(noise=1.5)


def test_viewers_are_a_seeded_sample() -> None:
    world = build_world(ratings(), split="stratified", holdout=0.25, seed=1)
    half = choose_viewers(world, 0.5, seed=4)
    assert len(half) == 10 and len(set(half)) == 10
    assert half == choose_viewers(world, 0.5, seed=4) != choose_viewers(world, 0.5, seed=5)
    assert sorted(choose_viewers(world, 1.0, seed=4)) == world.viewers
    with pytest.raises(ValueError, match="fraction"):
        TrafficOptions(fraction=0)


@pytest.mark.parametrize(
    ("text", "variant"),
    [
        ("active:50", {"name": "active", "strategy": "active", "weight": 50.0}),
        ("base=popularity:1.5", {"name": "base", "strategy": "popularity", "weight": 1.5}),
        ("run12:50", {"name": "run12", "strategy": "run", "model_run": 12, "weight": 50.0}),
    ],
)
def test_variant_arguments(text: str, variant: dict) -> None:
    assert parse_variant(text) == variant


@pytest.mark.parametrize("text", ["active", "active:-1", "active:x", "model:50", "run:50"])
def test_bad_variant_arguments_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="variant"):
        parse_variant(text)


def test_an_a_a_spec_names_its_variants_apart() -> None:
    spec = experiment_spec(name="aa", mode="split", variants=["active:50", "active:50"], salt="s")
    assert [v["name"] for v in spec["variants"]] == ["active", "active-2"]
    assert spec["salt"] == "s" and spec["mode"] == "split"
    with pytest.raises(ValueError, match="mode"):
        experiment_spec(name="x", mode="ab", variants=["active:1", "popularity:1"])
    with pytest.raises(ValueError, match="two variants"):
        experiment_spec(name="x", mode="split", variants=["active:1"])


def test_the_predicted_assignment_is_the_engines() -> None:
    experiment = {
        "id": 3,
        "salt": "abc",
        "variants": [{"name": "a", "weight": 45}, {"name": "b", "weight": 55}],
    }
    assign = predicted_assignment(experiment)
    assert [assign(v) for v in range(50)] == [
        "ab"[assign_variant("abc", v, [45, 55])] for v in range(50)
    ]
    with pytest.raises(ValueError, match="salt"):
        predicted_assignment({"id": 3, "variants": []})


def test_the_summary_reads_the_results_shape_of_the_issue() -> None:
    results = {
        "mode": "split",
        "variants": [
            {"name": "active", "users": 10, "impressions": 20, "clicks": 5, "ctr": 0.25,
             "ctr_ci": [0.1, 0.4]},
            {"name": "popularity", "users": 9, "impressions": 18, "clicks": 2, "ctr": 0.11,
             "ctr_ci": [0.03, 0.3]},
        ],
        "lift": -0.5, "lift_ci": [-0.9, -0.1], "p_value": 0.004, "srm_p_value": 0.8,
    }  # fmt: skip
    text = results_summary(results)
    assert "active" in text and "0.2500 [0.1000, 0.4000]" in text
    assert "p 0.004000" in text and "SRM p 0.800000" in text


class StubClient:
    """Serves every viewer the same list; half the viewers see variant b (by parity)."""

    def __init__(self, flaky_viewer: int | None = None) -> None:
        self.served: list[int] = []
        self.batches: list[list[dict]] = []
        self.flaky_viewer = flaky_viewer

    def recommend(self, user_id: int, topk: int) -> dict:
        self.served.append(user_id)
        variant = "ab"[user_id % 2]
        if user_id == self.flaky_viewer and self.served.count(user_id) > 1:
            variant = "c"
        items = [{"item_id": item} for item in range(100, 100 + topk)]
        return {
            "recommendations": items,
            "request_id": f"req-{len(self.served)}",
            "experiment": {"id": 1, "name": "x", "variant": variant},
        }

    def post_events(self, events: list[dict]) -> list[dict]:
        self.batches.append(list(events))
        return [{"accepted": len(events)}]


def stub_world(n_viewers: int = 40) -> World:
    futures = {viewer: frozenset({100, 102}) for viewer in range(1, n_viewers + 1)}
    return World(train=pd.DataFrame(), futures=futures)


def test_traffic_posts_each_click_once_with_its_request_and_counts_variant_changes() -> None:
    client = StubClient(flaky_viewer=7)
    options = TrafficOptions(topk=4, sessions=2, seed=1, settle_seconds=0)
    model = ClickModel(position_bias=False)
    report = drive_traffic(client, stub_world(), model, options)
    assert sorted(set(client.served)) == list(range(1, 41)) and len(client.served) == 80
    events = [event for batch in client.batches for event in batch]
    # Positions 0 and 2 (movies 100 and 102) are the future, clicked in every session.
    assert len(events) == report.clicks == report.events_sent == 160
    assert {e["item_id"] for e in events} == {100, 102}
    assert len({e["event_id"] for e in events}) == 160
    assert all(e["event_id"].startswith(e["request_id"]) for e in events)
    assert report.sticky_violations == 1


def test_dropping_leaves_out_exactly_that_share_of_one_variant() -> None:
    client = StubClient()
    options = TrafficOptions(topk=2, seed=3, drop={"a": 0.25}, settle_seconds=0)
    report = drive_traffic(
        client, stub_world(), ClickModel(), options, assign=lambda viewer: "ab"[viewer % 2]
    )
    # 20 viewers are in a; a quarter of them, 5, never arrive.
    assert report.dropped == 5 and len(report.viewers) == 35
    assert sum(1 for v in report.viewers if v.variant == "a") == 15
    with pytest.raises(ValueError, match="assignment"):
        drive_traffic(client, stub_world(), ClickModel(), options)


def test_new_visitors_join_the_viewers_and_are_dropped_like_them() -> None:
    """First-time visitors have ids the server never saw, are shuffled among the viewers,
    click nothing of a future they do not have, and an injected imbalance drops them too."""
    world = stub_world()
    options = TrafficOptions(topk=3, seed=5, new_visitors=60, settle_seconds=0)
    order = visitors(world, options)
    assert sorted(order) == [*range(1, 41), *range(NEW_VISITOR_FIRST_ID, NEW_VISITOR_FIRST_ID + 60)]
    assert order != sorted(order) and order == visitors(world, options)
    assert visitors(world, TrafficOptions(seed=5)) == choose_viewers(world, 1.0, 5)

    client = StubClient()
    report = drive_traffic(client, world, ClickModel(position_bias=False), options)
    assert len(report.viewers) == 100 and client.served == order
    new = [v for v in report.viewers if v.user_id >= NEW_VISITOR_FIRST_ID]
    assert len(new) == 60 and not any(s.clicked for v in new for s in v.sessions)

    dropping = TrafficOptions(seed=5, new_visitors=60, drop={"a": 0.5}, settle_seconds=0)
    report = drive_traffic(
        client, world, ClickModel(), dropping, assign=lambda viewer: "ab"[viewer % 2]
    )
    assert report.dropped == 25  # half of the 50 visitors with an even id (variant a)
    with pytest.raises(ValueError, match="new_visitors"):
        TrafficOptions(new_visitors=-1)
