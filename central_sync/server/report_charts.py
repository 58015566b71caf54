"""Charts for the monthly reports as inline SVG, drawn on the server: no script, no CDN, the
same picture in every browser and in a printout. One kind is enough to compare halls: bars
grouped by category (an hour, a service, a figure), one bar per hall in the hall's colour,
its value written above it.

Example::

    grouped_bars("每小时取号 · Tickets per hour", ["09", "10"], [("幸福里", [3, 5]), ("长寿苑", [1, 0])])
"""

from __future__ import annotations

from typing import Sequence

from markupsafe import Markup, escape

COLOURS = ("#1f5fa8", "#d9730d", "#2e8540", "#8e3b9e", "#b3261e", "#00838f", "#6d4c41", "#5c6bc0",
           "#c2185b", "#7c8c00", "#455a64", "#ef6c00")
"""One per hall, in the order the halls are listed (told apart in print, too)."""

WIDTH, HEIGHT, LEFT, TOP, BOTTOM = 640, 280, 48, 34, 70


def colour(i: int) -> str:
    return COLOURS[i % len(COLOURS)]


def _nice(top: float) -> float:
    """A round axis maximum at or above ``top`` (1, 2, 5 times a power of ten)."""
    if top <= 0:
        return 1.0
    step = 10 ** len(str(int(top))) / 100
    for factor in (1, 2, 2.5, 5, 10, 20, 25, 50, 100):
        if step * factor * 4 >= top:
            return step * factor * 4
    return top


def _label(value: float) -> str:
    return f"{round(value, 2):g}"


def grouped_bars(title: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
                 *, unit: str = "") -> Markup:
    """A bar chart: ``series`` is ``(hall name, a value per category)``; None draws no bar."""
    values = [v for _, vs in series for v in vs if v is not None]
    top = _nice(max(values, default=0))
    if all(float(v).is_integer() for v in values):
        top = max(top, 4.0)  # counts: whole numbers on the axis
    plot_w, plot_h = WIDTH - LEFT - 16, HEIGHT - TOP - BOTTOM
    group = plot_w / max(1, len(categories))
    bar = max(2.0, min(28.0, (group - 8) / max(1, len(series))))
    parts = [f'<svg class="report-chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
             f'xmlns="http://www.w3.org/2000/svg" font-family="Noto Sans CJK SC, Noto Sans, sans-serif" font-size="13">',
             f"<title>{escape(title)}</title>"]
    for i in range(5):  # the value axis: 0, 1/4 ... top
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - 16}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d5dbe3"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#3a4655">{_label(top * i / 4)}</text>')
    if unit:
        parts.append(f'<text x="{LEFT - 40}" y="{TOP - 16}" fill="#3a4655">{escape(unit)}</text>')
    for c, name in enumerate(categories):
        x0 = LEFT + c * group + (group - bar * len(series)) / 2
        for s, (_, vs) in enumerate(series):
            v = vs[c]
            x = x0 + s * bar
            h = 0.0 if v is None else plot_h * v / top
            y = TOP + plot_h - h
            if h:
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" fill="{colour(s)}"/>')
            if bar >= 14:  # the value above its bar; "—" where there is nothing to count from
                parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="11" '
                             f'fill="#18202b">{"—" if v is None else _label(v)}</text>')
        for line, text in enumerate(name.split(" · ")[:2]):  # 中文 above English
            parts.append(f'<text x="{LEFT + c * group + group / 2:.1f}" y="{TOP + plot_h + 18 + 15 * line}" '
                         f'text-anchor="middle" fill="{"#18202b" if line == 0 else "#3a4655"}">{escape(text)}</text>')
    x = LEFT
    for s, (hall, _) in enumerate(series):  # the legend, below the axis
        parts.append(f'<rect x="{x}" y="{HEIGHT - 20}" width="14" height="14" fill="{colour(s)}"/>'
                     f'<text x="{x + 20}" y="{HEIGHT - 8}" fill="#18202b">{escape(hall)}</text>')
        x += 36 + 14 * len(hall)
    parts.append("</svg>")
    return Markup("".join(parts))
