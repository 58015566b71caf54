"""The staff console's environment pages (seed 000 clause 4.6.3): every environment node's
latest readings against their limits, and a node's history as charts.

Charts are inline SVG drawn here, on the server: no JavaScript library for the Pi's browser
to load, and a page that prints. Each is one line of the bins' averages, a lighter band of
their minimum to maximum, the acceptable range shaded, and a gap where no data came.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, render_template, request

from hall_common.auth import login_required
from hall_common.config import Limit

from .console import active_alarms
from .console_services import require, services
from .environment import ENGLISH, Environment, Point, number

bp = Blueprint("environment", __name__, url_prefix="/environment")

PERIODS = {"24h": ("24 小时 · 24 h", 86400.0, 120.0), "7d": ("7 天 · 7 days", 7 * 86400.0, 900.0),
           "1y": ("1 年 · 1 year", 365 * 86400.0, 86400.0)}
"""Name, span and bin of each chart period: a year in days, so a bin holds whole days and the
band of its minimum to maximum is the day's range, not half a day's swing."""
STATUS = {"ok": "正常 · ok", "out": "超出范围 · out of range", "alarm": "告警 · alarm", "unjudged": "未设限值 · no limit"}
W, H, LEFT, RIGHT, TOP, BOTTOM = 960, 260, 64, 16, 14, 34
"""The chart's size and margins, in SVG units (it scales to the page's width)."""


def label(reading: str, limit: Limit | None) -> str:
    """"二氧化碳 · CO2": the Chinese name from the limit, the English one from the reading."""
    zh = limit.label if limit is not None and limit.label else ""
    en = ENGLISH.get(reading, reading)
    return f"{zh} · {en}" if zh else en


def limit_text(limit: Limit | None) -> str:
    if limit is None:
        return "—"
    unit = f" {limit.unit}" if limit.unit else ""
    if limit.low is not None and limit.high is not None:
        return f"{number(limit.low)}–{number(limit.high)}{unit}"
    return f"≤ {number(limit.high)}{unit}" if limit.high is not None else f"≥ {number(limit.low)}{unit}"


@bp.get("/")
@login_required()
def overview():
    """Each node, each reading: its value, coloured ok / out of range / alarm, and the limit."""
    env = services().environment
    nodes = env.snapshot() if env is not None else []
    return render_template("console/environment.html", nodes=nodes, alarms=active_alarms(), available=env is not None,
                           label=label, limit_text=limit_text, status=STATUS, number=number)


@bp.get("/<node>")
@login_required()
def node_page(node: str):
    """One node's readings over 24 hours, 7 days or a year, a chart each."""
    env: Environment = require("environment")
    period = request.args.get("period", "24h")
    if period not in PERIODS:
        period = "24h"
    entry = next((n for n in env.snapshot() if n["node"] == node), None)
    if entry is None:
        abort(404)
    _, span, step = PERIODS[period]
    until = time.time()
    since = until - span
    zone = ZoneInfo(current_app.config["HALL_TZ"])
    since -= (since + (datetime.fromtimestamp(since, zone).utcoffset() or timedelta()).total_seconds()) % step
    readings = [r["reading"] for r in entry["readings"]] or list(env.limits)
    charts = []
    for reading in readings:
        limit = env.limits.get(reading)
        points = env.series(node, reading, since, until, step=step)
        charts.append({"reading": reading, "label": label(reading, limit), "limit": limit_text(limit),
                       "unit": limit.unit if limit else "", "svg": chart(points, since, until, step, limit)})
    return render_template("console/environment_node.html", entry=entry, charts=charts, period=period,
                           periods=PERIODS, alarms=active_alarms(), label=label, status=STATUS, number=number)


def chart(points: list[Point], since: float, until: float, step: float, limit: Limit | None) -> dict[str, Any]:
    """The shapes of one chart in SVG coordinates, for ``environment_node.html``."""
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    values = [v for p in points for v in (p.min, p.max)]
    bounds = [b for b in ((limit.low, limit.high) if limit else ()) if b is not None]
    lo, hi = min(values + bounds, default=0.0), max(values + bounds, default=1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    ticks = nice_ticks(lo, hi)

    def x(ts: float) -> float:
        return round(LEFT + (ts - since) / (until - since) * plot_w, 1)

    def y(v: float) -> float:
        return round(TOP + (hi - v) / (hi - lo) * plot_h, 1)

    # Break the line where bins are missing for longer than a sensor's usual silence.
    gap = max(3 * step, 900.0)
    segments: list[list[Point]] = []
    for p in points:
        if segments and p.ts - segments[-1][-1].ts <= gap:
            segments[-1].append(p)
        else:
            segments.append([p])
    lines, bands = [], []
    for seg in segments:
        mids = [(x(p.ts + step / 2), p) for p in seg]
        if len(seg) == 1:  # a lone bin: a dot, not an invisible line
            lines.append({"dot": (mids[0][0], y(seg[0].avg))})
            continue
        lines.append({"points": " ".join(f"{px},{y(p.avg)}" for px, p in mids)})
        upper = [f"{px},{y(p.max)}" for px, p in mids]
        bands.append(" ".join(upper + [f"{px},{y(p.min)}" for px, p in reversed(mids)]))
    band = None
    if limit is not None:
        top = y(min(limit.high, hi)) if limit.high is not None else TOP
        bottom = y(max(limit.low, lo)) if limit.low is not None else TOP + plot_h
        band = {"y": top, "h": round(max(0.0, bottom - top), 1)}
    limit_lines = [{"y": y(b), "text": number(b)} for b in bounds]
    return {"w": W, "h": H, "left": LEFT, "top": TOP, "plot_w": plot_w, "plot_h": plot_h, "bottom": TOP + plot_h,
            "yticks": [{"y": y(t), "text": number(t)} for t in ticks],
            "xticks": [{"x": x(ts), "text": text} for ts, text in time_ticks(since, until, ZoneInfo(current_app.config["HALL_TZ"]))],
            "band": band, "limit_lines": limit_lines, "lines": lines, "minmax": bands, "empty": not points}


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round values between ``lo`` and ``hi`` (1, 2 or 5 times a power of ten apart)."""
    raw = (hi - lo) / count
    magnitude = 10 ** int(f"{raw:e}".split("e")[1])
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = -(-lo // step) * step
    return [round(first + i * step, 6) for i in range(int((hi - first) // step) + 1)]


def time_ticks(since: float, until: float, zone: ZoneInfo | None = None) -> list[tuple[float, str]]:
    """Hours for a day, days for a week, months for a year, in the hall's time zone (the
    Pi's own clock may be set to UTC)."""
    span = until - since
    start = datetime.fromtimestamp(since, zone)
    if span <= 2 * 86400:
        t = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        t += timedelta(hours=(3 - t.hour % 3) % 3)
        every, fmt = timedelta(hours=3), "%H:%M"
    elif span <= 31 * 86400:
        t = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        every, fmt = timedelta(days=1), "%m-%d"
    else:
        t = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        out = []
        while t.timestamp() < until:
            t = t.replace(year=t.year + 1, month=1) if t.month == 12 else t.replace(month=t.month + 1)
            if t.timestamp() < until:
                out.append((t.timestamp(), f"{t.year}-{t.month:02d}" if t.month == 1 else f"{t.month} 月"))
        return out
    ticks = []
    while t.timestamp() < until:
        ticks.append((t.timestamp(), t.strftime(fmt)))
        t += every
    return ticks
