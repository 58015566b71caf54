"""The monthly reports in the admin console: pick a month and halls, see them side by side
(charts and one table), download the same table as CSV or XLSX.

Who sees what (:mod:`.access`): the page is ``view``, the files ``export``; the halls
offered are the user's own (a hall manager compares only the halls assigned to them), and
a hall asked for in the URL is checked, never trusted. A month or hall that cannot be
reported answers 400 with the console's bilingual message and the form to fix it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request

from hall_common.errors import HallError

from . import access
from .db import get_store
from .report_charts import colour, grouped_bars
from .report_export import to_csv, to_xlsx
from .reports import READINGS, BadMonth, Report, build, last_month, parse_month, rows

bp = Blueprint("reports", __name__, url_prefix="/reports")

MAX_COMPARE = 12
"""Halls side by side on the page (and picked by default); the files take any number."""
MAX_EXPORT = 500
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Unreportable(HallError):
    """The month or halls asked for cannot be reported; ``zh`` and ``en`` say why."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def visible_halls() -> list[dict[str, Any]]:
    """The halls the user may report on, by id."""
    where, args = access.hall_clause("hall_id")
    return get_store().query(f"SELECT hall_id, name FROM halls WHERE {where} ORDER BY hall_id", args)


def asked(visible: list[dict[str, Any]], limit: int) -> tuple[str, list[tuple[str, str]]]:
    """The month and halls of the query string (default: the last whole month, the user's
    first halls); 403 for a hall that is not the user's, :class:`Unreportable` otherwise."""
    try:
        month = parse_month(request.args.get("month") or last_month())
    except BadMonth as exc:
        raise Unreportable(exc.zh, exc.en) from None
    names = {h["hall_id"]: h["name"] for h in visible}
    wanted = list(dict.fromkeys(h.strip() for h in request.args.getlist("hall") if h.strip()))
    for hall in wanted:
        access.check_hall(hall)  # another's hall: refused, whether it exists or not
    unknown = [h for h in wanted if h not in names]
    if unknown:
        raise Unreportable(f"没有这个服务中心：{unknown[0][:32]}", f"No such hall: {unknown[0][:32]}")
    chosen = wanted or list(names)[:limit]
    if len(chosen) > limit:
        raise Unreportable(f"一次最多对比 {limit} 个服务中心，请少选几个", f"Compare at most {limit} halls at a time: pick fewer")
    return month, [(h, names[h]) for h in chosen]


def _refused(exc: Unreportable, visible: list[dict[str, Any]]) -> tuple[str, int]:
    return render_template("admin/reports.html", error=exc, report=None, visible=visible,
                           month=request.args.get("month", "")[:20], chosen=set(request.args.getlist("hall")),
                           charts=[], rows=[], colour=colour), 400


@bp.get("/")
@access.require("view")
def index():
    """The chosen halls' month, side by side: charts, then every figure in one table."""
    visible = visible_halls()
    try:
        month, halls = asked(visible, MAX_COMPARE)
    except Unreportable as exc:
        return _refused(exc, visible)
    report = build(get_store(), halls, month)
    return render_template("admin/reports.html", error=None, report=report, visible=visible, month=month,
                           chosen={h for h, _ in halls}, charts=charts(report), rows=rows(report), colour=colour)


@bp.get("/export.csv")
@access.require("export")
def export_csv():
    return _export("csv")


@bp.get("/export.xlsx")
@access.require("export")
def export_xlsx():
    return _export("xlsx")


def _export(kind: str):
    visible = visible_halls()
    try:
        month, halls = asked(visible, MAX_EXPORT)
    except Unreportable as exc:
        return _refused(exc, visible)
    report = build(get_store(), halls, month)
    body, mime = (to_csv(report), "text/csv; charset=utf-8") if kind == "csv" else (to_xlsx(report), XLSX)
    return Response(body, mimetype=mime,
                    headers={"Content-Disposition": f'attachment; filename="hall-report-{month}.{kind}"'})


def charts(report: Report) -> list[dict[str, Any]]:
    """The page's charts, ``{"title", "svg"}``: each compares the halls, one colour per hall."""
    f, ids = report.figures, [h for h, _ in report.halls]
    names = [n for _, n in report.halls]
    out: list[dict[str, Any]] = []

    def chart(title: str, categories: list[str], value: Any, unit: str) -> None:
        """``value(hall_id, category index)``: one bar."""
        series = [(n, [value(h, i) for i in range(len(categories))]) for h, n in zip(ids, names)]
        out.append({"title": title, "svg": grouped_bars(title, categories, series, unit=unit)})

    used = [i for i in range(24) if any(f["hours"][h][i] for h in ids)] or list(range(8, 18))
    hours = list(range(min(used), max(used) + 1))
    chart("每小时取号 · Tickets issued per hour of the day", [f"{i:02d}" for i in hours],
          lambda h, i: f["hours"][h][hours[i]], "张 · tickets")
    services = sorted({s for h in ids for s in f["services"][h]})
    if services:
        chart("各业务取号 · Tickets per service", [report.services.get(s, s) for s in services],
              lambda h, i: f["services"][h].get(services[i], {}).get("issued", 0), "张 · tickets")
    keys = ("wait_mean_s", "wait_p90_s", "service_mean_s", "service_p90_s")
    chart("等候与办理时间 · Waiting and service time",
          ["平均等候 · mean wait", "90% 等候 · wait p90", "平均办理 · mean service", "90% 办理 · service p90"],
          lambda h, i: None if f["times"][h][keys[i]] is None else round(f["times"][h][keys[i]] / 60, 1), "分钟 · min")
    rates = (("satisfaction", "share"), ("complaints", "satisfaction"), ("complaints", "on_time_rate"), ("aed", "coverage"))
    chart("满意率、及时率与 AED 自检 · Satisfaction, on time, AED self-tests",
          ["窗口满意率 · counters", "投诉满意率 · complaints", "投诉及时率 · on time", "AED 自检覆盖 · AED days covered"],
          lambda h, i: f[rates[i][0]][h][rates[i][1]], "%")
    readings = sorted({r for h in ids for r in f["environment"][h]})
    if readings:
        chart("环境超限次数 · Environment exceedances", [READINGS.get(r, r) for r in readings],
              lambda h, i: f["environment"][h].get(readings[i], {}).get("exceedances", 0), "次 · times")
    return out
