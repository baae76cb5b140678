"""Charts drawn on the server as SVG: nothing to download at run time, nothing for the
Content-Security-Policy to allow, and each chart carries its own text alternative (an SVG
title and description, and the same figures as a table the page can show).

Geometry goes in SVG attributes, colours in classes (``.chart__…`` in dashboard.css), so
no inline style is needed. Every label passes through ``escape``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count

from markupsafe import Markup, escape

WIDTH = 640
# A phone shows each chart drawn again at this width, its labels above the bars rather than
# beside them (dashboard.css swaps the two below 40rem): scaled down from 640 their text
# would be 7 px.
NARROW = 360
_ids = count(1)


@dataclass(frozen=True)
class Chart:
    """One chart: the SVG and, for people who would rather read (or cannot see it), the
    figures as ``columns`` and ``rows``."""

    title: str
    svg: Markup
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    summary: str = ""
    # (label, kind) of each colour, shown under the chart as text (readable at any width)
    legend: tuple[tuple[str, str], ...] = ()
    narrow: Markup | None = None  # the same chart at a phone's width, when it has text


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _frame(title: str, summary: str, height: int, body: list[str], *,
           width: int | None = None) -> Markup:
    """The SVG; ``width``: one of a chart's two drawings (WIDTH, NARROW), else its only."""
    ident = f"chart-{next(_ids)}"
    variant = {None: "", WIDTH: " chart--wide", NARROW: " chart--narrow"}[width]
    width = width or WIDTH
    return Markup(
        f'<svg class="chart{variant}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{ident}-t">{escape(title)}</title>'
        f'<desc id="{ident}-d">{escape(summary)}</desc>' + "".join(body) + "</svg>")


@dataclass(frozen=True)
class _Rows:
    """Where a chart of one bar per row puts things: wide, the label left of its bar;
    narrow (a phone), the label on a line of its own above it."""

    width: int
    row: int
    label_x: int
    label_dy: int
    bar_x: int
    bar_dy: int
    anchor: str
    chars: int  # a label's characters that fit (about 7 px each at 13 px)

    @classmethod
    def at(cls, width: int) -> _Rows:
        if width == NARROW:
            return cls(width, 46, 0, 14, 0, 22, "start", 48)
        return cls(width, 34, 192, 22, 200, 8, "end", 26)

    def label(self, y: int, text: str) -> str:
        return (f'<text class="chart__label" x="{self.label_x}" y="{y + self.label_dy}" '
                f'text-anchor="{self.anchor}">{escape(_short(text, self.chars))}</text>')


def bars(title: str, items: Sequence[tuple[str, float]], *, unit: str = "",
         total: float | None = None) -> Chart:
    """Horizontal bars, one per label (a completion funnel by topic, a department table):
    each bar's length is its share of ``total`` (default: the largest value)."""
    top = total if total else max((v for _, v in items), default=0) or 1
    summary = "; ".join(f"{label}: {_number(v)}{unit}" for label, v in items) or "no data"

    def draw(width: int) -> Markup:
        at, body = _Rows.at(width), []
        track = width - at.bar_x - 70
        for i, (label, value) in enumerate(items):
            y, bar_y = i * at.row, i * at.row + at.bar_dy
            length = track * min(value / top, 1)
            body.append(
                at.label(y, label)
                + f'<rect class="chart__track" x="{at.bar_x}" y="{bar_y}" width="{track}"'
                f' height="18" rx="3"/>'
                f'<rect class="chart__bar" x="{at.bar_x}" y="{bar_y}" width="{length:.1f}" '
                f'height="18" rx="3"/>'
                f'<text class="chart__value" x="{at.bar_x + length + 6:.1f}" y="{bar_y + 14}">'
                f'{escape(_number(value))}{escape(unit)}</text>')
        return _frame(title, summary, max(at.row * len(items), at.row), body, width=width)

    return Chart(title, draw(WIDTH), ("", "value"),
                 [(label, f"{_number(v)}{unit}") for label, v in items], summary,
                 narrow=draw(NARROW))


def stacked(title: str, parts: Sequence[tuple[str, float, str]]) -> Chart:
    """One bar split into parts (label, value, kind): rollout progress by recipient status,
    sentiment shares. ``kind`` names the colour class (``chart__part--<kind>``)."""
    total = sum(v for _, v, _ in parts) or 1
    body, x = [], 0.0
    for label, value, kind in parts:
        width = WIDTH * value / total
        if width > 0:
            body.append(f'<rect class="chart__part chart__part--{escape(kind)}" x="{x:.1f}" '
                        f'y="0" width="{width:.1f}" height="28"><title>{escape(label)}: '
                        f'{escape(_number(value))}</title></rect>')
        x += width
    summary = "; ".join(f"{label}: {_number(v)}" for label, v, _ in parts) or "no data"
    return Chart(title, _frame(title, summary, 28, body), ("", "count"),
                 [(label, _number(v)) for label, v, _ in parts], summary,
                 tuple((f"{label} {_number(v)}", kind) for label, v, kind in parts))


def stacked_rows(title: str, rows: Sequence[tuple[str, Sequence[tuple[str, float, str]]]]
                 ) -> Chart:
    """One split bar per row (label, parts): sentiment per period, each part (label,
    value, kind) a share of its row's total; one legend for all rows, from the first."""
    names = [part for part, _, _ in rows[0][1]] if rows else []
    summary = "; ".join(f"{label}: " + ", ".join(f"{_number(v)} {part.lower()}"
                                                   for part, v, _ in parts)
                        for label, parts in rows) or "no data"

    def draw(width: int) -> Markup:
        at, body = _Rows.at(width), []
        track = width - at.bar_x - 10
        for i, (label, parts) in enumerate(rows):
            y, bar_y, x = i * at.row, i * at.row + at.bar_dy, float(at.bar_x)
            total = sum(v for _, v, _ in parts)
            body.append(at.label(y, label)
                        + f'<rect class="chart__track" x="{at.bar_x}" y="{bar_y}" '
                        f'width="{track}" height="18" rx="3"/>')
            for part, value, kind in parts:
                w = track * value / total if total else 0
                if w > 0:
                    body.append(f'<rect class="chart__part chart__part--{escape(kind)}" '
                                f'x="{x:.1f}" y="{bar_y}" width="{w:.1f}" height="18">'
                                f'<title>{escape(label)}, {escape(part)}: '
                                f'{escape(_number(value))}</title></rect>')
                x += w
        return _frame(title, summary, max(len(rows), 1) * at.row, body, width=width)

    return Chart(title, draw(WIDTH), ("", *names),
                 [(label, *(_number(v) for _, v, _ in parts)) for label, parts in rows],
                 summary, tuple((part, kind) for part, _, kind in (rows[0][1] if rows else ())),
                 narrow=draw(NARROW))


def line(title: str, points: Sequence[tuple[str, float]], *, unit: str = "") -> Chart:
    """A trend over days (1-on-1 usage, sentiment over time): one point per label, the
    first, middle and last labels written under the axis."""
    top = max((v for _, v in points), default=0) or 1
    summary = (f"from {_number(points[0][1])}{unit} on {points[0][0]} to "
               f"{_number(points[-1][1])}{unit} on {points[-1][0]}, highest "
               f"{_number(top)}{unit}") if points else "no data"

    def draw(width: int) -> Markup:
        height, top_pad, bottom = 200, 16, 28
        left = max(40, 10 + 7 * len(_number(top)))  # room for the top tick's digits
        plot_h = height - top_pad - bottom
        step = (width - left - 20) / max(len(points) - 1, 1)
        xy = [(left + i * step, top_pad + plot_h * (1 - v / top))
              for i, (_, v) in enumerate(points)]
        body = [f'<line class="chart__axis" x1="{left}" y1="{top_pad + plot_h}" '
                f'x2="{width - 20}" y2="{top_pad + plot_h}"/>',
                f'<text class="chart__tick" x="{left - 6}" y="{top_pad + 4}" '
                f'text-anchor="end">{escape(_number(top))}</text>',
                f'<text class="chart__tick" x="{left - 6}" y="{top_pad + plot_h + 4}" '
                f'text-anchor="end">0</text>']
        if xy:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            body.append(f'<polyline class="chart__line" points="{path}"/>')
            for (x, y), (label, value) in zip(xy, points, strict=True):
                body.append(f'<circle class="chart__dot" cx="{x:.1f}" cy="{y:.1f}" r="3.5">'
                            f'<title>{escape(label)}: {escape(_number(value))}{escape(unit)}'
                            f'</title></circle>')
            for i in sorted({0, len(points) // 2, len(points) - 1}):
                anchor = "start" if i == 0 else "end" if i == len(points) - 1 else "middle"
                body.append(f'<text class="chart__tick" x="{xy[i][0]:.1f}" y="{height - 8}" '
                            f'text-anchor="{anchor}">{escape(points[i][0])}</text>')
        return _frame(title, summary, height, body, width=width)

    return Chart(title, draw(WIDTH), ("day", "value"),
                 [(label, f"{_number(v)}{unit}") for label, v in points], summary,
                 narrow=draw(NARROW))


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
