"""Charts for the admin pages, rendered server-side as inline SVG with pygal.

The SVG is embedded in the page: no chart library is fetched by the browser (the machine
serving the admin may have no internet access), and the charts show without JavaScript.
pygal's optional tooltip script is left out (``js=[]``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pygal
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style

#: Colours of the Django admin's default theme, so the charts sit well in its pages.
ADMIN_STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground="#333333",
    foreground_strong="#333333",
    foreground_subtle="#cccccc",
    colors=("#417690", "#e38f3c", "#79aec8", "#ba2121", "#5b9a45", "#8a6fb0"),
    font_family="-apple-system, 'Segoe UI', system-ui, Roboto, 'Helvetica Neue', Arial, sans-serif",
    title_font_size=18,
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=13,
    value_font_size=12,
)

#: Beyond this many x labels only every n-th one is written, so they never overlap.
MAX_X_LABELS = 12


def _options(*, title: str, x_title: str, y_title: str, n_labels: int) -> dict[str, object]:
    options: dict[str, object] = {
        "title": title,
        "x_title": x_title,
        "y_title": y_title,
        "style": ADMIN_STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "width": 640,
        "height": 360,
        "margin": 16,
        "print_values": False,
        "truncate_label": 40,
    }
    if n_labels > MAX_X_LABELS:
        options.update(
            x_labels_major_count=MAX_X_LABELS, show_minor_x_labels=False, x_label_rotation=30
        )
    return options


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """About ``count`` round values covering ``low``–``high`` (steps of 1, 2, 2.5 or 5 × 10ⁿ).

    pygal's own labels on a narrow range (metrics of similar runs) are either crowded or
    irregular; these are evenly spaced and read well.
    """
    if high < low:
        low, high = high, low
    if math.isclose(high, low):
        pad = abs(high) * 0.1 or 1.0
        # A flat series of non-negative values keeps zero as its floor.
        low, high = (max(low - pad, 0.0) if low >= 0 else low - pad), high + pad
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [math.floor(low / step + 1e-9) * step]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(ticks[-1] + step)
    ticks = [round(tick, 10) for tick in ticks]
    return ticks


def _values(values: Sequence[float | None]) -> list[float]:
    return [float(value) for value in values if value is not None]


def _render(chart: pygal.graph.graph.Graph) -> SafeString:
    # pygal writes the SVG with ElementTree, escaping every title and label.
    return mark_safe(chart.render(is_unicode=True))  # noqa: S308


def bar_chart(
    *, title: str, labels: Sequence[str], values: Sequence[float], x_title: str, y_title: str
) -> SafeString:
    """One series of vertical bars, one per label."""
    chart = pygal.Bar(
        **_options(title=title, x_title=x_title, y_title=y_title, n_labels=len(labels)),
        show_legend=False,
        y_labels=nice_ticks(0.0, max(_values(values), default=0.0)),
    )
    chart.x_labels = [str(label) for label in labels]
    chart.add(y_title, [float(value) for value in values])
    return _render(chart)


def horizontal_bar_chart(
    *, title: str, labels: Sequence[str], values: Sequence[float], x_title: str
) -> SafeString:
    """Horizontal bars, the first label at the top (for long labels such as feature names)."""
    options = _options(title=title, x_title=x_title, y_title="", n_labels=0)
    # Enough height for every label to be readable.
    options["height"] = max(240, 110 + 20 * len(labels))
    chart = pygal.HorizontalBar(**options, show_legend=False)
    # pygal draws the first value at the bottom; reversed, the list reads top-down.
    chart.x_labels = [str(label) for label in reversed(labels)]
    chart.add(x_title, [float(value) for value in reversed(values)])
    return _render(chart)


def line_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    x_title: str,
    y_title: str,
) -> SafeString:
    """Several series over the same x labels; ``None`` leaves a gap."""
    chart = pygal.Line(
        **_options(title=title, x_title=x_title, y_title=y_title, n_labels=len(labels)),
        legend_at_bottom=True,
        dots_size=4,
        allow_interruptions=True,
        y_labels=nice_ticks(
            min((v for vs in series.values() for v in _values(vs)), default=0.0),
            max((v for vs in series.values() for v in _values(vs)), default=1.0),
        ),
    )
    chart.x_labels = [str(label) for label in labels]
    for position, (name, values) in enumerate(series.items()):
        # The first series is the subject (the system); the others are for comparison.
        width = 3 if position == 0 else 1.5
        chart.add(
            name,
            [None if value is None else float(value) for value in values],
            stroke_style={"width": width},
        )
    return _render(chart)
