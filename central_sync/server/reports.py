"""The monthly report of each hall, one function per figure, on the projection tables that
ingest keeps (:mod:`.report_projection`; complaints from :mod:`.complaint_projection`). The
same SQL runs on SQLite and PostgreSQL; percentiles are taken in Python (SQLite has none),
by the nearest rank, as the edge's own daily figures are (edge_agent/queue/engine.py).

Every function takes the halls already checked against the user's (``report_views.py``)
and a month ``"2026-11"`` (China time), and answers ``{hall_id: figure}``, a figure for
every hall asked for, zeros (or None where a mean has no base) when the hall sent nothing.
:func:`build` puts them together and :func:`rows` lays them out as one table, halls side by
side: the page, the CSV and the XLSX all show those rows.

How things are counted (also in ``docs/reports.md``):

* tickets by the month and hour they were issued; wait = issue to call, service = call to
  done (a ticket transferred keeps its first call's wait), as at the counter;
* counter satisfaction: 非常满意 and 满意 of all ratings (基本满意 is shown apart, not counted
  as satisfied: the hall's own rule, edge_agent/queue/rating.py);
* complaints: received in the month; on-time and satisfaction rates exactly as the
  complaints' rates page counts them (:func:`.complaints.figures`);
* environment: an exceedance is an ``env.*`` alarm raised in the month (a reading out of
  range for its minimum duration); minutes out of range are those of the month;
* first aid: inspections in the month, what they found, items whose expiry date falls in the
  month, items that were expired in the box at some time in the month;
* AED: self-test results received, the days of the month with one, door openings (possible
  rescues), after-use checklists, "no self-test" alarms.
"""

from __future__ import annotations

import calendar
import math
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Sequence

from central_sync.store import Store
from hall_common.errors import HallError

from .complaint_projection import TZ
from .complaints import figures as complaint_figures

MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")  # ASCII digits only: int() reads ２０２５ too
SATISFIED = ("very_satisfied", "satisfied")
LEVELS = {"very_satisfied": "非常满意 · Very satisfied", "satisfied": "满意 · Satisfied",
          "basically_satisfied": "基本满意 · Fairly satisfied", "dissatisfied": "不满意 · Dissatisfied",
          "very_dissatisfied": "非常不满意 · Very dissatisfied"}
READINGS = {"temperature": "温度 · Temperature", "humidity": "湿度 · Humidity", "co2": "二氧化碳 · CO2",
            "illuminance": "照度 · Light", "noise": "噪声 · Noise", "pm25": "PM2.5"}


class BadMonth(HallError, ValueError):
    """A month that is not ``YYYY-MM`` (or not a real one); ``zh`` and ``en`` say why."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def parse_month(text: str | None) -> str:
    """``"2026-11"`` as it is; :class:`BadMonth` for anything else."""
    value = (text or "").strip()
    m = MONTH.match(value)
    if m is None or not 2000 <= int(m.group(1)) <= 2099:
        raise BadMonth(f"月份“{value[:20]}”不对，请按 2026-11 的格式选择年月",
                       f"The month {value[:20]!r} is not valid: choose it as 2026-11 (year-month)")
    return value


def bounds(month: str) -> tuple[float, float]:
    """The month's first and last instant (its end excluded), China time, as Unix seconds."""
    y, m = map(int, month.split("-"))
    start = datetime(y, m, 1, tzinfo=TZ)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=TZ)
    return start.timestamp(), end.timestamp()


def last_month(now: float | None = None) -> str:
    """The last whole month (China time): the one a monthly report is usually about."""
    today = datetime.fromtimestamp(time.time() if now is None else now, TZ).date()
    return f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"


def _in(halls: Sequence[str], column: str = "hall_id") -> tuple[str, list[str]]:
    if not halls:
        return "1 = 0", []
    return f"{column} IN ({', '.join('?' for _ in halls)})", list(halls)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def p90(values: list[float]) -> float | None:
    """The 90th percentile, nearest rank (the edge's rule, so a day and a month agree)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)], 1)


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# -- queue -----------------------------------------------------------------------------------

def tickets_per_service(store: Store, halls: Sequence[str], month: str) -> dict[str, dict[str, dict[str, int]]]:
    """Per hall and service: tickets issued, served, no-shows, cancelled."""
    where, args = _in(halls)
    out: dict[str, dict[str, dict[str, int]]] = {h: {} for h in halls}
    for r in store.query(
            "SELECT hall_id, service, count(*) AS issued, "
            "sum(CASE WHEN status = 'done' THEN 1 ELSE 0 END) AS served, "
            "sum(CASE WHEN status = 'no_show' THEN 1 ELSE 0 END) AS no_show, "
            "sum(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled "
            f"FROM report_tickets WHERE month = ? AND {where} GROUP BY hall_id, service ORDER BY service",
            [month, *args]):
        out[r["hall_id"]][r["service"]] = {k: int(r[k] or 0) for k in ("issued", "served", "no_show", "cancelled")}
    return out


def service_names(store: Store, halls: Sequence[str], month: str) -> dict[str, str]:
    """The services' names as the halls sent them with their tickets (``中文 · English``)."""
    where, args = _in(halls)
    rows = store.query("SELECT service, max(service_name) AS name FROM report_tickets "
                       f"WHERE month = ? AND {where} GROUP BY service", [month, *args])
    return {r["service"]: r["name"] or r["service"] for r in rows}


def tickets_per_hour(store: Store, halls: Sequence[str], month: str) -> dict[str, list[int]]:
    """Per hall, tickets issued in each hour of the day (0-23, China time)."""
    where, args = _in(halls)
    out = {h: [0] * 24 for h in halls}
    for r in store.query(f"SELECT hall_id, hour, count(*) AS n FROM report_tickets WHERE month = ? AND {where} "
                         "GROUP BY hall_id, hour", [month, *args]):
        out[r["hall_id"]][int(r["hour"])] = int(r["n"])
    return out


def times(store: Store, halls: Sequence[str], month: str) -> dict[str, dict[str, Any]]:
    """Per hall, the wait (issue to call) and service time (call to done) in seconds: their
    mean and 90th percentile, and how many tickets each is of."""
    where, args = _in(halls)
    waits: dict[str, list[float]] = {h: [] for h in halls}
    serves: dict[str, list[float]] = {h: [] for h in halls}
    for r in store.query(f"SELECT hall_id, wait_s, service_s FROM report_tickets WHERE month = ? AND {where} "
                         "AND (wait_s IS NOT NULL OR service_s IS NOT NULL)", [month, *args]):
        if r["wait_s"] is not None:
            waits[r["hall_id"]].append(float(r["wait_s"]))
        if r["service_s"] is not None:
            serves[r["hall_id"]].append(float(r["service_s"]))
    return {h: {"called": len(waits[h]), "wait_mean_s": _mean(waits[h]), "wait_p90_s": p90(waits[h]),
                "served": len(serves[h]), "service_mean_s": _mean(serves[h]), "service_p90_s": p90(serves[h])}
            for h in halls}


def counter_satisfaction(store: Store, halls: Sequence[str], month: str) -> dict[str, dict[str, Any]]:
    """Per hall: ratings of the counters' service, how many satisfied and their share in
    percent, the count per level, and the same per counter."""
    where, args = _in(halls)
    out: dict[str, dict[str, Any]] = {h: {"rated": 0, "satisfied": 0, "share": None, "levels": dict.fromkeys(LEVELS, 0),
                                          "counters": {}} for h in halls}
    for r in store.query(f"SELECT hall_id, counter, rating, count(*) AS n FROM report_ratings WHERE month = ? AND {where} "
                         "GROUP BY hall_id, counter, rating", [month, *args]):
        hall, n = out[r["hall_id"]], int(r["n"])
        counter = hall["counters"].setdefault(r["counter"] or "—", {"rated": 0, "satisfied": 0})
        hall["rated"] += n
        counter["rated"] += n
        if r["rating"] in hall["levels"]:
            hall["levels"][r["rating"]] += n
        if r["rating"] in SATISFIED:
            hall["satisfied"] += n
            counter["satisfied"] += n
    for hall in out.values():
        hall["share"] = _share(hall["satisfied"], hall["rated"])
        for counter in hall["counters"].values():
            counter["share"] = _share(counter["satisfied"], counter["rated"])
    return out


# -- complaints ------------------------------------------------------------------------------

def complaints(store: Store, halls: Sequence[str], month: str, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Per hall, requests received in the month with the on-time and satisfaction rates,
    counted by the complaints' own rates page (:func:`.complaints.figures`)."""
    found = {r["key"]: r for r in complaint_figures(store, "hall_id", now, month=month)}
    empty = {"received": 0, "due": 0, "on_time": 0, "on_time_rate": None, "rated": 0, "satisfied": 0,
             "satisfaction": None, "reopened": 0}
    return {h: {k: found.get(h, empty).get(k, v) for k, v in empty.items()} for h in halls}


# -- the hall's safety and comfort -------------------------------------------------------------

def _alarms(store: Store, halls: Sequence[str], area: str, month: str) -> list[dict[str, Any]]:
    """The area's alarms active at some time in the month."""
    start, end = bounds(month)
    where, args = _in(halls)
    return store.query(f"SELECT * FROM report_alarms WHERE area = ? AND {where} AND raised_at < ? "
                       "AND (cleared_at IS NULL OR cleared_at > ?)", [area, *args, end, start])


def environment(store: Store, halls: Sequence[str], month: str, now: float | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Per hall and reading: exceedances raised in the month and the minutes out of range
    within it (an alarm not cleared yet counts until now)."""
    start, end = bounds(month)
    until = min(end, time.time() if now is None else now)
    out: dict[str, dict[str, dict[str, Any]]] = {h: {} for h in halls}
    for a in _alarms(store, halls, "env", month):
        figure = out[a["hall_id"]].setdefault(a["subject"], {"exceedances": 0, "minutes": 0.0})
        if start <= a["raised_at"] < end:
            figure["exceedances"] += 1
        stop = a["cleared_at"] if a["cleared_at"] is not None else until
        figure["minutes"] += max(0.0, min(stop, end) - max(a["raised_at"], start)) / 60
    for readings in out.values():
        for figure in readings.values():
            figure["minutes"] = round(figure["minutes"], 1)
    return {h: dict(sorted(out[h].items())) for h in halls}


def first_aid(store: Store, halls: Sequence[str], month: str) -> dict[str, dict[str, Any]]:
    """Per hall: inspections of the first-aid and convenience boxes and what they found
    expired or expiring; items whose expiry date falls in the month (still in a box then);
    items that were expired in a box at some time in the month (its expiry alarm)."""
    where, args = _in(halls)
    start, _ = bounds(month)
    y, m = map(int, month.split("-"))
    first, last = date(y, m, 1).isoformat(), date(y, m, calendar.monthrange(y, m)[1]).isoformat()
    out = {h: {"inspections": 0, "last_inspection": None, "found_expired": 0, "found_expiring": 0,
               "expiring_in_month": 0, "expired_in_box": 0} for h in halls}
    for r in store.query("SELECT hall_id, count(*) AS n, max(at) AS last, sum(expired) AS expired, "
                         f"sum(expiring) AS expiring FROM report_aid_inspections WHERE month = ? AND {where} "
                         "GROUP BY hall_id", [month, *args]):
        out[r["hall_id"]].update(inspections=int(r["n"]), last_inspection=r["last"], found_expired=int(r["expired"] or 0),
                                 found_expiring=int(r["expiring"] or 0))
    for r in store.query(f"SELECT hall_id, count(*) AS n FROM report_aid_items WHERE {where} AND expiry >= ? "
                         "AND expiry <= ? AND (removed_at IS NULL OR removed_at >= ?) GROUP BY hall_id",
                         [*args, first, last, start]):
        out[r["hall_id"]]["expiring_in_month"] = int(r["n"])
    for a in _alarms(store, halls, "first_aid", month):
        if a["type"] == "expired":
            out[a["hall_id"]]["expired_in_box"] += 1
    return out


def aed(store: Store, halls: Sequence[str], month: str, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Per hall: self-test results received (passed, failed), the days of the month with
    one, and their share of the month's days so far; door openings, after-use checklists,
    and alarms for a missing self-test."""
    where, args = _in(halls)
    start, end = bounds(month)
    days = math.ceil((min(end, time.time() if now is None else now) - start) / 86400)
    days = max(0, min(days, calendar.monthrange(*map(int, month.split("-")))[1]))
    out = {h: {"self_tests": 0, "passed": 0, "failed": 0, "days_tested": 0, "days": days, "coverage": None,
               "door_openings": 0, "after_use_checks": 0, "missing_alarms": 0} for h in halls}
    for r in store.query("SELECT hall_id, kind, result, count(*) AS n, count(DISTINCT day) AS days FROM report_aed_checks "
                         f"WHERE month = ? AND {where} GROUP BY hall_id, kind, result", [month, *args]):
        hall, n = out[r["hall_id"]], int(r["n"])
        if r["kind"] == "after_use":
            hall["after_use_checks"] += n
        else:
            hall["self_tests"] += n
            hall["passed" if r["result"] == "pass" else "failed"] += n
    for r in store.query(f"SELECT hall_id, count(DISTINCT day) AS days FROM report_aed_checks WHERE month = ? AND {where} "
                         "AND kind = 'self_test' GROUP BY hall_id", [month, *args]):
        out[r["hall_id"]]["days_tested"] = int(r["days"])
    for a in _alarms(store, halls, "aed", month):
        if not start <= a["raised_at"] < end:
            continue
        if a["subject"] == "door":
            out[a["hall_id"]]["door_openings"] += 1
        elif a["subject"] == "self_test_missing":
            out[a["hall_id"]]["missing_alarms"] += 1
    for hall in out.values():
        hall["coverage"] = _share(hall["days_tested"], hall["days"])
    return out


# -- the report ------------------------------------------------------------------------------

@dataclass
class Report:
    month: str
    halls: list[tuple[str, str]]
    """(hall_id, name), in the order asked."""
    figures: dict[str, Any] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)


def build(store: Store, halls: Sequence[tuple[str, str]], month: str, now: float | None = None) -> Report:
    ids = [h for h, _ in halls]
    now = time.time() if now is None else now
    return Report(month, list(halls), {
        "services": tickets_per_service(store, ids, month),
        "hours": tickets_per_hour(store, ids, month),
        "times": times(store, ids, month),
        "satisfaction": counter_satisfaction(store, ids, month),
        "complaints": complaints(store, ids, month, now),
        "environment": environment(store, ids, month, now),
        "first_aid": first_aid(store, ids, month),
        "aed": aed(store, ids, month, now),
    }, service_names(store, ids, month))


@dataclass(frozen=True)
class Row:
    section: str
    figure: str
    item: str
    values: dict[str, Any]
    """hall_id → a number, or None where there is nothing to count from."""


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def rows(report: Report) -> list[Row]:
    """The report as one table: a row per figure, a value per hall."""
    f, ids = report.figures, [h for h, _ in report.halls]
    out: list[Row] = []

    def add(section: str, figure: str, item: str, value: Any) -> None:
        out.append(Row(section, figure, item, {h: value(h) for h in ids}))

    sec = "取号 · Tickets"
    add(sec, "取号总数 · Issued", "", lambda h: sum(s["issued"] for s in f["services"][h].values()))
    for service in sorted({s for h in ids for s in f["services"][h]}):
        name = report.services.get(service, service)
        for key, label in (("issued", "取号 · Issued"), ("served", "办结 · Served"), ("no_show", "过号 · No-show")):
            add(sec, label, name, lambda h, s=service, k=key: f["services"][h].get(s, {}).get(k, 0))
    hours = [i for i in range(24) if any(f["hours"][h][i] for h in ids)]
    for i in hours:
        add("分时段取号 · Tickets by hour", "取号 · Issued", f"{i:02d}:00-{i + 1:02d}:00", lambda h, i=i: f["hours"][h][i])
    sec = "等候与办理 · Waiting and service"
    for key, label in (("wait_mean_s", "平均等候（分钟） · Mean wait (min)"), ("wait_p90_s", "90% 等候不超过（分钟） · Wait p90 (min)"),
                       ("service_mean_s", "平均办理（分钟） · Mean service (min)"),
                       ("service_p90_s", "90% 办理不超过（分钟） · Service p90 (min)")):
        add(sec, label, "", lambda h, k=key: _minutes(f["times"][h][k]))
    sec = "窗口满意度 · Counter satisfaction"
    add(sec, "评价数 · Ratings", "", lambda h: f["satisfaction"][h]["rated"])
    add(sec, "满意率（%） · Satisfied (%)", "", lambda h: f["satisfaction"][h]["share"])
    for level, label in LEVELS.items():
        add(sec, "评价 · Ratings", label, lambda h, k=level: f["satisfaction"][h]["levels"][k])
    sec = "报事投诉 · Complaints"
    for key, label in (("received", "受理 · Received"), ("due", "应反馈 · Due"), ("on_time", "按时反馈 · On time"),
                       ("on_time_rate", "及时率（%） · On-time rate (%)"), ("rated", "评价 · Ratings"),
                       ("satisfaction", "满意率（%） · Satisfaction (%)")):
        add(sec, label, "", lambda h, k=key: f["complaints"][h][k])
    sec = "环境 · Environment"
    for reading in sorted({r for h in ids for r in f["environment"][h]}):
        name = READINGS.get(reading, reading)
        add(sec, "超限次数 · Exceedances", name, lambda h, r=reading: f["environment"][h].get(r, {}).get("exceedances", 0))
        add(sec, "超限时长（分钟） · Minutes out of range", name,
            lambda h, r=reading: f["environment"][h].get(r, {}).get("minutes", 0.0))
    sec = "急救箱与便民箱 · First-aid and convenience boxes"
    for key, label in (("inspections", "检查次数 · Inspections"), ("found_expired", "检查发现过期 · Expired found"),
                       ("found_expiring", "检查发现临期 · Expiring found"),
                       ("expiring_in_month", "本月到期物品 · Items expiring this month"),
                       ("expired_in_box", "箱内出现过期物品 · Expired items in a box")):
        add(sec, label, "", lambda h, k=key: f["first_aid"][h][k])
    sec = "AED"
    for key, label in (("self_tests", "自检次数 · Self-tests"), ("passed", "自检通过 · Passed"), ("failed", "自检未通过 · Failed"),
                       ("days_tested", "有自检的天数 · Days with a self-test"), ("coverage", "自检覆盖率（%） · Days covered (%)"),
                       ("missing_alarms", "未收到自检告警 · Missing self-test alarms"),
                       ("door_openings", "柜门打开 · Door openings"), ("after_use_checks", "使用后检查 · After-use checks")):
        add(sec, label, "", lambda h, k=key: f["aed"][h][k])
    return out
