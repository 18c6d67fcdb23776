"""Server-side SVG charts: well-formed, titled, labelled, self-contained."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from recommender.admin import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own output, not untrusted input)


def texts(svg: str) -> list[str]:
    root = parse(svg)
    return ["".join(node.itertext()).strip() for node in root.iter(f"{SVG}text")]


def test_bar_chart_is_inline_svg_with_title_axes_and_labels() -> None:
    svg = charts.bar_chart(
        title="Ratings by score",
        labels=["1", "2", "3"],
        values=[10, 30, 20],
        x_title="score",
        y_title="ratings",
    )

    assert svg.startswith("<svg")  # no XML declaration: it is embedded in HTML
    root = parse(svg)  # well-formed
    assert root.tag == f"{SVG}svg"
    shown = texts(svg)
    for text in ("Ratings by score", "score", "ratings", "1", "2", "3"):
        assert text in shown
    # One bar per value, and nothing fetched from elsewhere.
    assert len(root.findall(f".//{SVG}g[@class='bars']/{SVG}g")) == 3
    assert not re.search(r"<script[^>]+src=", svg)
    assert "http://kozea.github.io" not in svg


def test_labels_are_escaped() -> None:
    svg = charts.bar_chart(
        title="<b>x</b> & y", labels=["<i>"], values=[1], x_title="a", y_title="b"
    )
    parse(svg)
    assert "<b>" not in svg and "<i>" not in svg
    assert "<b>x</b> & y" in texts(svg)


def test_many_labels_are_thinned_out() -> None:
    labels = [f"{year}-{month:02d}" for year in (1997, 1998, 1999) for month in range(1, 13)]
    svg = charts.bar_chart(
        title="t", labels=labels, values=range(len(labels)), x_title="month", y_title="n"
    )
    shown = [text for text in texts(svg) if text.startswith("199")]
    assert 0 < len(shown) <= charts.MAX_X_LABELS + 1


def test_horizontal_bars_read_top_down_in_the_given_order() -> None:
    svg = charts.horizontal_bar_chart(
        title="Importances", labels=["first", "second", "third"], values=[3, 2, 1], x_title="%"
    )
    root = parse(svg)
    y_of = {}
    for node in root.iter(f"{SVG}text"):
        if node.text in {"first", "second", "third"}:
            y_of[node.text] = float(node.get("y"))
    assert y_of["first"] < y_of["second"] < y_of["third"]


def test_line_chart_has_a_legend_and_gaps_for_missing_values() -> None:
    svg = charts.line_chart(
        title="NDCG@10",
        labels=["#1", "#2", "#3", "#4", "#5"],
        series={"system": [0.2, 0.25, 0.3, 0.3, 0.31], "ease": [0.18, 0.19, None, 0.2, 0.21]},
        x_title="model run",
        y_title="ndcg@10",
    )
    shown = texts(svg)
    for text in ("NDCG@10", "model run", "ndcg@10", "system", "ease", "#1", "#3"):
        assert text in shown
    root = parse(svg)
    # Two lines of "ease" (interrupted by the gap) plus one of "system".
    lines = root.findall(f".//{SVG}path[@class='line reactive nofill']")
    assert len(lines) == 3


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 700, [0, 200, 400, 600, 800]),
        (0.2084, 0.5332, [0.2, 0.3, 0.4, 0.5, 0.6]),
        (0, 100_000, [0, 20_000, 40_000, 60_000, 80_000, 100_000]),
        (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.5, 0.5, [0.45, 0.475, 0.5, 0.525, 0.55]),
    ],
)
def test_nice_ticks_are_round_even_and_cover_the_range(low, high, expected) -> None:
    ticks = charts.nice_ticks(low, high)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= low and ticks[-1] >= high


def test_value_axis_uses_round_ticks() -> None:
    svg = charts.line_chart(
        title="AUC",
        labels=["#1", "#2"],
        series={"system": [0.7380, 0.7412], "popularity": [0.4748, 0.4748]},
        x_title="model run",
        y_title="auc",
    )
    assert {"0.4", "0.5", "0.6", "0.7", "0.8"} <= set(texts(svg))
