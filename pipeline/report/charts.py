"""Charts as data: the geometry of each SVG element (computed here) and the text it shows,
which the `svg` macro in templates/macros.html writes out, escaped, as inline SVG. No
plotting library: three chart kinds cover the report."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.report.display import fmt_int, shorten

SVG_WIDTH = 760


@dataclass(frozen=True)
class Shape:
    """One SVG element: `tag` (rect, line or text) with `attrs`, its text and hover title."""

    tag: str
    attrs: dict[str, str | int]
    text: str = ""
    title: str = ""


@dataclass(frozen=True)
class Group:
    """Shapes sharing a hover title (a bar, its label and its value)."""

    shapes: list[Shape]
    title: str = ""


@dataclass
class Chart:
    height: int
    label: str  # what the chart is, for screen readers
    groups: list[Group] = field(default_factory=list)
    width: int = SVG_WIDTH


def _rect(x: float, y: float, width: float, height: float, css: str, title: str = "") -> Shape:
    attrs: dict[str, str | int] = {"x": f"{x:.1f}", "y": f"{y:.1f}"}
    attrs |= {"width": f"{width:.1f}", "height": f"{height:.1f}", "class": css}
    return Shape("rect", attrs, title=title)


def _text(x: float, y: float, text: str, css: str, anchor: str = "") -> Shape:
    attrs: dict[str, str | int] = {"x": f"{x:.1f}", "y": f"{y:.1f}"}
    if anchor:
        attrs["text-anchor"] = anchor
    return Shape("text", attrs | {"class": css}, text=text)


def _line(x1: float, y1: float, x2: float, y2: float) -> Shape:
    attrs = {"x1": f"{x1:.1f}", "y1": f"{y1:.1f}", "x2": f"{x2:.1f}", "y2": f"{y2:.1f}"}
    return Shape("line", {**attrs, "class": "axis"})


@dataclass
class Bar:
    label: str
    value: float
    text: str  # shown after the bar (formatted)
    title: str = ""  # hover text
    kind: str = ""  # CSS class: "" (blue), "rej", "alt", "muted", "warn"
    target: float | None = None  # drawn as a dashed outline


def bar_chart(bars: list[Bar], label_width: int = 240, text_width: int = 170) -> Chart | None:
    """Horizontal bars, one row each: label, bar (with an optional dashed target), value."""
    if not bars:
        return None
    row, pad = 20, 5
    plot = SVG_WIDTH - label_width - text_width
    top = max([b.value for b in bars] + [b.target or 0 for b in bars]) or 1.0
    chart = Chart(len(bars) * (row + pad) + pad, "bar chart")
    for i, bar in enumerate(bars):
        y = pad + i * (row + pad)
        baseline = y + row * 0.72
        width = max(0.0, bar.value) / top * plot
        label = shorten(bar.label, label_width // 7)
        shapes = [
            _text(label_width - 8, baseline, label, "lbl", anchor="end"),
            _rect(label_width, y, width, row, f"bar {bar.kind}"),
        ]
        end = width
        if bar.target is not None and bar.target > 0:
            target = bar.target / top * plot
            shapes.append(_rect(label_width, y + 1, target, row - 2, "target"))
            end = max(end, target)
        shapes.append(_text(label_width + end + 6, baseline, bar.text, "val"))
        chart.groups.append(Group(shapes, bar.title or f"{bar.label}: {bar.text}"))
    return chart


def histogram_chart(
    edges: list[float],
    counts: list[int],
    xlabel: str,
    edge_text: Callable[[float], str],
    log_x: bool = False,
) -> Chart | None:
    """Vertical bars over `edges` (len(counts) + 1), evenly spaced (on a log axis when
    `log_x`, whose edges are then the real values)."""
    if not counts:
        return None
    left, right, top, bottom = 56, 16, 12, 46
    height = 230
    plot_w, plot_h = SVG_WIDTH - left - right, height - top - bottom
    axis_y = top + plot_h
    peak = max(counts) or 1
    step = plot_w / len(counts)
    axes = [
        _line(left, axis_y, left + plot_w, axis_y),
        _line(left, top, left, axis_y),
        _text(left - 6, top + 9, fmt_int(peak), "tick", anchor="end"),
        _text(left - 6, axis_y, "0", "tick", anchor="end"),
    ]
    bars = []
    for i, count in enumerate(counts):
        h = count / peak * plot_h
        title = f"{edge_text(edges[i])} – {edge_text(edges[i + 1])}: {count:,}"
        bars.append(_rect(left + i * step + 0.5, axis_y - h, max(step - 1, 0.5), h, "bar", title))
    lo, hi = edges[0], edges[-1]

    def position(value: float) -> float:
        if log_x:
            return left + (math.log10(value) - math.log10(lo)) / (math.log10(hi / lo)) * plot_w
        return left + (value - lo) / (hi - lo) * plot_w

    ticks = []
    for value in _ticks(lo, hi, log_x):
        x = position(value)
        ticks.append(_line(x, axis_y, x, axis_y + 4))
        ticks.append(_text(x, axis_y + 16, edge_text(value), "tick", anchor="middle"))
    scale = " (log scale)" if log_x else ""
    caption = _text(left + plot_w / 2, height - 8, xlabel + scale, "lbl", anchor="middle")
    return Chart(height, f"histogram of {xlabel}", [Group([*axes, *bars, *ticks, caption])])


def _ticks(lo: float, hi: float, log_x: bool) -> list[float]:
    """Round values for axis ticks between lo and hi: 1-2-5 steps (decades on a log axis)."""
    if log_x:
        decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        for mantissas in ((1, 2, 5), (1, 3), (1,)):
            ticks = [m * 10.0**d for d in decades for m in mantissas]
            ticks = [t for t in ticks if lo <= t <= hi]
            if len(ticks) <= 8:
                break
        return ticks or [lo, hi]
    raw = (hi - lo) / 6
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step) * step
    count = int((hi - first) / step + 1e-9) + 1
    return [round(first + i * step, 12) for i in range(count)]


def stacked_chart(parts: list[tuple[str, float]]) -> Chart:
    """One bar split into shares, with a legend (four entries a line)."""
    total = sum(v for _, v in parts) or 1.0
    chart = Chart(34 + 20 * math.ceil(len(parts) / 4), "composition")
    x = 0.0
    segments = []
    for i, (name, value) in enumerate(parts):
        width = value / total * SVG_WIDTH
        title = f"{name}: {value:,.0f} ({100 * value / total:.1f}%)"
        segments.append(_rect(x, 0, width, 24, f"seg s{i % 8}", title))
        x += width
    legend = []
    for i, (name, value) in enumerate(parts):
        lx, ly = (i % 4) * (SVG_WIDTH / 4), 36 + (i // 4) * 20
        legend.append(_rect(lx, ly, 12, 12, f"seg s{i % 8}"))
        entry = shorten(f"{name} {100 * value / total:.1f}%", 30)
        legend.append(_text(lx + 18, ly + 10, entry, "lbl"))
    chart.groups.append(Group([*segments, *legend]))
    return chart
