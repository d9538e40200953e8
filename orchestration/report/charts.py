"""Small inline-SVG charts: no JavaScript, no fonts or scripts from the network.

Our own few hundred lines rather than a plotting library: the report must open offline
from a file, stay a few hundred kilobytes at any data size (charts draw aggregates, never
rows), and render the same bytes for the same data. Each chart is an `<svg class="chart"
data-chart="...">` element, so a test can find every chart by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")  # fmt: skip
INK = "#333"
GRID = "#ddd"
FONT = "font-family:'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif"


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _num(value: float) -> str:
    """Coordinates with two decimals: small files, stable bytes."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def fmt_number(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def fmt_share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _svg(name: str, width: float, height: float, body: Sequence[str], title: str = "") -> str:
    label = f"<title>{escape(title)}</title>" if title else ""
    return (
        f'<svg class="chart" data-chart="{escape(name)}"'
        f' viewBox="0 0 {_num(width)} {_num(height)}" width="{_num(width)}"'
        f' height="{_num(height)}" role="img" style="{FONT};font-size:12px">'
        f"{label}{''.join(body)}</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", **style: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in style.items())
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" fill="{INK}"{extra}>'
        f"{escape(text)}</text>"
    )


def bar_chart(
    name: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    value_labels: Sequence[str] | None = None,
    colors: Sequence[str] | None = None,
    width: float = 640,
    label_width: float = 220,
    bar_height: float = 22,
    title: str = "",
) -> str:
    """Horizontal bars, one per label: sizes of segments, tags' coverage, audiences."""
    peak = max([v for v in values if v is not None] or [0]) or 1
    plot = width - label_width - 120  # room for the value label after the longest bar
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 6 + i * (bar_height + 6)
        length = max(0.0, (value or 0) / peak * plot)
        fill = colors[i] if colors else color(0)
        shown = value_labels[i] if value_labels else fmt_number(value)
        body.append(_text(label_width - 8, y + bar_height * 0.7, label, "end"))
        body.append(
            f'<rect x="{_num(label_width)}" y="{_num(y)}" width="{_num(length)}"'
            f' height="{_num(bar_height)}" fill="{fill}" rx="2"/>'
        )
        body.append(_text(label_width + length + 6, y + bar_height * 0.7, shown))
    if not labels:  # nothing to draw: say so where the bars would be
        body.append(_text(width / 2, 30, title, "middle", fill_opacity="0.7", font_size="14"))
        return _svg(name, width, 48, body, title)
    height = 12 + len(labels) * (bar_height + 6)
    return _svg(name, width, height, body, title)


def column_chart(
    name: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    colors: Sequence[str] | None = None,
    x_title: str = "",
    y_title: str = "",
    width: float = 640,
    height: float = 260,
    title: str = "",
) -> str:
    """Vertical bars for a distribution (a histogram of pre-binned counts)."""
    left, right, top, bottom = 64, 28, 12, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max([v for v in values if v is not None] or [0]), AXIS_TOPS)
    n = max(len(values), 1)
    step = plot_w / n
    body = [_axis_grid(left, top, plot_w, plot_h, peak)]
    for i, value in enumerate(values):
        h = (value or 0) / peak * plot_h
        fill = colors[i] if colors else color(0)
        body.append(
            f'<rect x="{_num(left + i * step + 1)}" y="{_num(top + plot_h - h)}"'
            f' width="{_num(max(step - 2, 1))}" height="{_num(h)}" fill="{fill}">'
            f"<title>{escape(labels[i])}: {fmt_number(value)}</title></rect>"
        )
    every = max(1, math.ceil(n / 10))
    for i in range(0, len(labels), every):  # none for an empty chart ("No data")
        body.append(_text(left + (i + 0.5) * step, top + plot_h + 16, labels[i], "middle"))
    body.append(_text(left + plot_w / 2, height - 8, x_title, "middle"))
    body.append(_text(12, top + plot_h / 2, y_title, "middle",
                      transform=f"rotate(-90 12 {_num(top + plot_h / 2)})"))  # fmt: skip
    return _svg(name, width, height, body, title)


def nice_ceiling(value: float, steps: Sequence[float] = (1, 2, 2.5, 5, 10)) -> float:
    """The next round number (a step times a power of ten): bin widths and axis tops."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in steps if m * power >= value)


AXIS_TOPS = (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10)  # quarters of each read round


def _axis_grid(left: float, top: float, w: float, h: float, peak: float) -> str:
    lines = []
    for k in range(5):
        y = top + h - h * k / 4
        lines.append(
            f'<line x1="{_num(left)}" x2="{_num(left + w)}" y1="{_num(y)}" y2="{_num(y)}"'
            f' stroke="{GRID}"/>'
        )
        lines.append(_text(left - 6, y + 4, fmt_number(peak * k / 4), "end"))
    return "".join(lines)


def radar(
    name: str,
    axes: Sequence[str],
    values: Sequence[float],
    *,
    fill: str = PALETTE[0],
    size: float = 240,
    title: str = "",
) -> str:
    """A persona's profile: each axis 0..1 (the segment's value over the largest segment's).
    An axis label may hold a line break ("消费额\nSpend")."""
    margin = 70  # each side, for the axis labels
    cx, cy, r = size / 2 + margin, size / 2, size / 2 - 40
    n = len(axes)
    body = []

    def point(i: int, scale: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * i / n
        return cx + r * scale * math.cos(angle), cy + r * scale * math.sin(angle)

    for ring in (0.25, 0.5, 0.75, 1.0):
        ring_points = " ".join(
            f"{_num(x)},{_num(y)}" for x, y in (point(i, ring) for i in range(n))
        )
        body.append(f'<polygon points="{ring_points}" fill="none" stroke="{GRID}"/>')
    for i, axis in enumerate(axes):
        x, y = point(i, 1.0)
        body.append(
            f'<line x1="{_num(cx)}" y1="{_num(cy)}" x2="{_num(x)}" y2="{_num(y)}" stroke="{GRID}"/>'
        )
        lx, ly = point(i, 1.12)
        anchor = "middle" if abs(lx - cx) < 8 else ("start" if lx > cx else "end")
        lines = axis.split("\n")
        ly = ly - 6 * (len(lines) - 1) + (4 if ly >= cy else -2)
        for k, line in enumerate(lines):
            body.append(_text(lx, ly + 13 * k, line, anchor, font_size="11"))
    shape = " ".join(
        f"{_num(x)},{_num(y)}"
        for x, y in (point(i, min(max(v or 0.0, 0.0), 1.0)) for i, v in enumerate(values))
    )
    body.append(
        f'<polygon points="{shape}" fill="{fill}" fill-opacity="0.35" stroke="{fill}"'
        ' stroke-width="2"/>'
    )
    return _svg(name, size + 2 * margin, size, body, title)


def heatmap(
    name: str,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    matrix: Sequence[Sequence[float | None]],
    *,
    row_title: str = "",
    col_title: str = "",
    cell: float = 64,
    title: str = "",
) -> str:
    """A grid of counts, darker for more: the RFM grid (recency score x frequency score)."""
    left, top = 96, 28
    peak = max((v or 0 for row in matrix for v in row), default=0) or 1
    body = [_text(left + cell * len(col_labels) / 2, 14, col_title, "middle")]
    for j, label in enumerate(col_labels):
        body.append(_text(left + (j + 0.5) * cell, top + 14, label, "middle"))
    for i, (label, row) in enumerate(zip(row_labels, matrix, strict=True)):
        y = top + 22 + i * cell
        body.append(_text(left - 8, y + cell / 2 + 4, label, "end"))
        for j, value in enumerate(row):
            strength = (value or 0) / peak
            text_fill = "#fff" if strength > 0.55 else INK
            body.append(
                f'<rect x="{_num(left + j * cell)}" y="{_num(y)}" width="{_num(cell - 2)}"'
                f' height="{_num(cell - 2)}" fill="{PALETTE[0]}"'
                f' fill-opacity="{_num(0.06 + 0.94 * strength)}"/>'
            )
            body.append(
                f'<text x="{_num(left + (j + 0.5) * cell)}" y="{_num(y + cell / 2 + 4)}"'
                f' text-anchor="middle" fill="{text_fill}">{fmt_number(value)}</text>'
            )
    height = top + 22 + cell * len(row_labels) + 8
    body.append(
        _text(16, top + 22 + cell * len(row_labels) / 2, row_title, "middle",
              transform=f"rotate(-90 16 {_num(top + 22 + cell * len(row_labels) / 2)})")
    )  # fmt: skip
    return _svg(name, left + cell * len(col_labels) + 12, height, body, title)


def funnel(
    name: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    width: float = 640,
    title: str = "",
) -> str:
    """Stages as centred bars, widest for the largest: the customer lifecycle."""
    peak = max([v for v in values if v is not None] or [0]) or 1
    total = sum(v or 0 for v in values) or 1
    label_width, plot, bar_h = 170, width - 170 - 120, 30
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 6 + i * (bar_h + 6)
        w = max(2.0, (value or 0) / peak * plot)
        x = label_width + (plot - w) / 2
        body.append(_text(label_width - 8, y + bar_h * 0.65, label, "end"))
        body.append(
            f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{bar_h}"'
            f' fill="{color(i)}" rx="3"/>'
        )
        body.append(
            _text(label_width + plot + 8, y + bar_h * 0.65,
                  f"{fmt_number(value)} ({fmt_share((value or 0) / total)})")
        )  # fmt: skip
    return _svg(name, width, 12 + len(labels) * (bar_h + 6), body, title)


def calibration_chart(
    name: str,
    predicted: Sequence[float],
    observed: Sequence[float],
    *,
    x_title: str = "",
    y_title: str = "",
    size: float = 300,
    title: str = "",
) -> str:
    """Predicted vs observed rate per bin, against the diagonal a perfect model would follow."""
    left, top, plot = 52, 12, size - 52 - 16
    body = []
    for k in range(6):
        t = k / 5
        x, y = left + t * plot, top + plot - t * plot
        body.append(
            f'<line x1="{_num(left)}" x2="{_num(left + plot)}" y1="{_num(y)}" y2="{_num(y)}"'
            f' stroke="{GRID}"/>'
        )
        body.append(_text(left - 6, y + 4, f"{t:.1f}", "end"))
        body.append(_text(x, top + plot + 16, f"{t:.1f}", "middle"))
    body.append(
        f'<line x1="{_num(left)}" y1="{_num(top + plot)}" x2="{_num(left + plot)}"'
        f' y2="{_num(top)}" stroke="#999" stroke-dasharray="4 4"/>'
    )
    points = [
        (left + p * plot, top + plot - o * plot)
        for p, o in zip(predicted, observed, strict=True)
        if p is not None and o is not None
    ]
    if points:
        path = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
        body.append(
            f'<polyline points="{path}" fill="none" stroke="{PALETTE[3]}" stroke-width="2"/>'
        )
        body.extend(
            f'<circle cx="{_num(x)}" cy="{_num(y)}" r="3.5" fill="{PALETTE[3]}"/>'
            for x, y in points
        )
    body.append(_text(left + plot / 2, size - 4, x_title, "middle"))
    body.append(_text(12, top + plot / 2, y_title, "middle",
                      transform=f"rotate(-90 12 {_num(top + plot / 2)})"))  # fmt: skip
    return _svg(name, size, size + 10, body, title)
