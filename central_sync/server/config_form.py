"""The kiosk settings form: a configuration version as form fields, the posted fields back
as a configuration, and the kiosk schema's complaints as the form's own labels.

The form is another way of writing the same ``KioskSettings`` the TOML editor writes: the
posted fields become a plain dict that goes through ``KioskSettings.model_validate``
unchanged (numbers and dates as typed, so the schema, not this module, says what is
wrong). Opening hours are edited per weekday (up to a few periods a day) and stored as the
schema's ``periods``, days with the same hours grouped into one period. Settings the form
does not show (any added to the schema later) are kept from the version it started from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from hall_common.config import KioskSettings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_LABELS = {"mon": "周一 · Mon", "tue": "周二 · Tue", "wed": "周三 · Wed", "thu": "周四 · Thu", "fri": "周五 · Fri",
              "sat": "周六 · Sat", "sun": "周日 · Sun"}
SLOTS = 2
"""Opening periods a weekday shows at least (a lunch break makes two)."""

SERVICE_FIELDS = ("id", "name_zh", "name_en", "prefix", "first", "last")
CONVENIENCE_FIELDS = ("name_zh", "name_en", "hours")
LINES = ("closed_dates", "open_dates", "online_channels")

LABELS: dict[str, str] = {
    "info.address": "地址 · Address",
    "info.service_phone": "服务电话 · Service phone",
    "info.complaint_phone": "投诉电话 · Complaints phone",
    "info.supervision_phone": "监督电话 · Supervision phone",
    "info.duty_phone": "24 小时值班电话 · Duty phone",
    "hours.after_hours_phone": "下班后电话 · After-hours phone",
    "hours.timezone": "时区 · Time zone",
    "hours.holidays": "法定节假日 · Public holidays",
    "hours.closed_dates": "闭馆日期 · Closed dates",
    "hours.open_dates": "调休开放日期 · Extra open dates",
    "hours.online_channels": "线上渠道 · Online channels",
    "idle.form_s": "填写页无操作返回（秒）· Form idle time (s)",
    "idle.result_s": "结果页停留（秒）· Result screen time (s)",
    "idle.countdown_s": "返回倒计时（秒）· Countdown (s)",
    "panel.diagonal_in": "屏幕尺寸（英寸）· Panel diagonal (in)",
    "panel.width_px": "屏幕宽度（像素）· Panel width (px)",
    "panel.height_px": "屏幕高度（像素）· Panel height (px)",
    "languages": "界面语言 · Languages",
    "voice": "语音 · Voice",
    "printer": "取号打印机 · Ticket printer",
    "blank_when_closed": "闭馆时关屏 · Screen off when closed",
    "services": "排队服务 · Queue services",
    "info.conveniences": "便民服务 · Conveniences",
}
ROW_LABELS = {
    "id": "编号 · id", "name_zh": "中文名称 · Chinese name", "name_en": "英文名称 · English name",
    "prefix": "号码前缀 · Ticket prefix", "first": "起始号 · First number", "last": "最大号 · Last number",
    "priority": "可优先 · Priority allowed", "hours": "时间 · Hours", "available": "可用 · Available",
}


@dataclass
class Problem:
    """One thing the schema refused, in the form's words: its label, the input it points
    at (for ``aria-invalid`` and focus), and the schema's message."""

    label: str
    field: str
    message: str


@dataclass
class Form:
    """The form's values as strings and booleans, shaped the way the template draws them."""

    values: dict[str, str] = field(default_factory=dict)
    """``info.service_phone`` etc.; the LINES fields one entry a line."""
    hours: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """weekday -> [(open, close)], at least SLOTS entries, empty strings for none."""
    languages: list[str] = field(default_factory=list)
    flags: dict[str, bool] = field(default_factory=dict)
    services: list[dict[str, Any]] = field(default_factory=list)
    conveniences: list[dict[str, Any]] = field(default_factory=list)
    rest: dict[str, Any] = field(default_factory=dict)
    """Settings the form does not show, kept as they were."""


SHOWN = {"info", "hours", "idle", "panel", "languages", "voice", "printer", "blank_when_closed", "services"}
"""Top-level settings the form shows; any other key of a version is kept in ``Form.rest``."""


def blank() -> dict[str, Any]:
    """A body to start from when the centre has no configuration yet: the schema's defaults,
    phones to fill in."""
    return {"info": {"service_phone": "", "complaint_phone": ""}}


def from_settings(body: dict[str, Any]) -> Form:
    """The form showing configuration ``body`` (a stored version)."""
    info, hours = body.get("info", {}), body.get("hours", {})
    defaults = KioskSettings.model_fields
    idle = body.get("idle") or defaults["idle"].default_factory().model_dump()  # type: ignore[misc]
    panel = body.get("panel") or defaults["panel"].default_factory().model_dump()  # type: ignore[misc]
    form = Form()
    for key in ("address", "service_phone", "complaint_phone", "supervision_phone", "duty_phone"):
        form.values[f"info.{key}"] = str(info.get(key, ""))
    form.values["hours.after_hours_phone"] = hours.get("after_hours_phone", "")
    form.values["hours.timezone"] = hours.get("timezone", "Asia/Shanghai")
    form.values["hours.holidays"] = hours.get("holidays", "cn")
    for key in LINES:
        form.values[f"hours.{key}"] = "\n".join(str(v) for v in hours.get(key, []))
    for key in ("form_s", "result_s", "countdown_s"):
        form.values[f"idle.{key}"] = str(idle.get(key, ""))
    for key in ("diagonal_in", "width_px", "height_px"):
        form.values[f"panel.{key}"] = str(panel.get(key, ""))
    form.values["printer"] = body.get("printer") or ""
    periods = hours.get("periods")
    if periods is None:
        periods = [p.model_dump() for p in defaults["hours"].default_factory().periods]  # type: ignore[misc]
    form.hours = {d: [] for d in DAYS}
    for p in periods:
        for d in p["days"]:
            form.hours[d].append((p["open"], p["close"]))
    _pad(form.hours)
    form.languages = list(body.get("languages", ["zh_CN", "en"]))
    form.flags = {"voice": body.get("voice", True), "blank_when_closed": body.get("blank_when_closed", True)}
    form.services = [{**{k: str(s.get(k, "")) for k in SERVICE_FIELDS}, "priority": s.get("priority", True)}
                     for s in body.get("services", [])]
    form.conveniences = [{**{k: str(c.get(k, "")) for k in CONVENIENCE_FIELDS}, "available": c.get("available", True)}
                         for c in info.get("conveniences", [])]
    form.rest = {k: v for k, v in body.items() if k not in SHOWN}
    info_rest = {k: v for k, v in info.items()
                 if k not in ("address", "service_phone", "complaint_phone", "supervision_phone", "duty_phone", "conveniences")}
    hours_rest = {k: v for k, v in hours.items()
                  if k not in ("after_hours_phone", "timezone", "holidays", "periods", *LINES)}
    if info_rest or hours_rest:
        form.rest["_nested"] = {"info": info_rest, "hours": hours_rest}
    return form


def _pad(hours: dict[str, list[tuple[str, str]]]) -> None:
    for d in DAYS:
        hours[d] = sorted(hours[d])
        hours[d] += [("", "")] * max(0, SLOTS - len(hours[d]))


def from_request(posted: MultiDict, rest: dict[str, Any]) -> Form:
    """The form as posted: rows ticked "remove" and rows left wholly empty are dropped."""
    form = Form(rest=rest)
    for key in (*(f"info.{k}" for k in ("address", "service_phone", "complaint_phone", "supervision_phone", "duty_phone")),
                "hours.after_hours_phone", "hours.timezone", "hours.holidays", *(f"hours.{k}" for k in LINES),
                "idle.form_s", "idle.result_s", "idle.countdown_s", "panel.diagonal_in", "panel.width_px",
                "panel.height_px", "printer"):
        form.values[key] = posted.get(key, "").strip()
    form.hours = {d: [] for d in DAYS}
    for d in DAYS:
        i = 0
        while f"hours.{d}.{i}.open" in posted:
            form.hours[d].append((posted.get(f"hours.{d}.{i}.open", "").strip(), posted.get(f"hours.{d}.{i}.close", "").strip()))
            i += 1
        form.hours[d] = [s for s in form.hours[d] if s != ("", "")]
    _pad(form.hours)
    form.languages = [code for code in ("zh_CN", "en") if code in posted.getlist("languages")]
    form.flags = {"voice": "voice" in posted, "blank_when_closed": "blank_when_closed" in posted}
    form.services = _rows(posted, "services", SERVICE_FIELDS, "priority", ("id", "name_zh", "name_en", "prefix"))
    form.conveniences = _rows(posted, "conveniences", CONVENIENCE_FIELDS, "available", ("name_zh", "name_en"))
    return form


def _rows(posted: MultiDict, name: str, fields: tuple[str, ...], flag: str, key: tuple[str, ...]) -> list[dict[str, Any]]:
    rows, i = [], 0
    while f"{name}.{i}.{fields[0]}" in posted:
        row: dict[str, Any] = {k: posted.get(f"{name}.{i}.{k}", "").strip() for k in fields}
        row[flag] = f"{name}.{i}.{flag}" in posted
        if f"{name}.{i}.remove" not in posted and any(row[k] for k in key):
            rows.append(row)
        i += 1
    return rows


def add_row(form: Form, name: str) -> None:
    """One more empty row of ``services`` or ``conveniences`` to fill in."""
    if name == "services":
        form.services.append({**{k: "" for k in SERVICE_FIELDS}, "first": "1", "last": "999", "priority": True})
    elif name == "conveniences":
        form.conveniences.append({**{k: "" for k in CONVENIENCE_FIELDS}, "available": True})


def to_body(form: Form) -> tuple[dict[str, Any], list[list[str]]]:
    """The configuration the form says, not yet checked, and for each of its opening
    periods the weekdays it came from (to name a bad period by its day)."""
    v = form.values
    nested = form.rest.get("_nested", {})
    info: dict[str, Any] = {**nested.get("info", {})}
    for key in ("address", "service_phone", "complaint_phone", "supervision_phone", "duty_phone"):
        info[key] = v.get(f"info.{key}", "")
    info["conveniences"] = [{"name_zh": c["name_zh"], "name_en": c["name_en"], "available": c["available"],
                             **({"hours": c["hours"]} if c["hours"] else {})} for c in form.conveniences]
    grouped: dict[tuple[str, str], list[str]] = {}
    for d in DAYS:
        for slot in form.hours.get(d, []):
            if slot != ("", ""):
                grouped.setdefault(slot, []).append(d)
    periods = [{"days": days, "open": o, "close": c} for (o, c), days in grouped.items()]
    hours: dict[str, Any] = {**nested.get("hours", {}), "periods": periods}
    hours["after_hours_phone"] = v.get("hours.after_hours_phone", "")
    for key in ("timezone", "holidays"):  # left empty: the schema's default
        if v.get(f"hours.{key}"):
            hours[key] = v[f"hours.{key}"]
    for key in LINES:
        hours[key] = [line.strip() for line in v.get(f"hours.{key}", "").splitlines() if line.strip()]
    body: dict[str, Any] = {
        **{k: val for k, val in form.rest.items() if k != "_nested"},
        "info": info,
        "hours": hours,
        "idle": {k: v[f"idle.{k}"] for k in ("form_s", "result_s", "countdown_s") if v.get(f"idle.{k}")},
        "panel": {k: v[f"panel.{k}"] for k in ("diagonal_in", "width_px", "height_px") if v.get(f"panel.{k}")},
        "languages": form.languages,
        "voice": form.flags.get("voice", True),
        "blank_when_closed": form.flags.get("blank_when_closed", True),
        "services": [{**{k: s[k] for k in SERVICE_FIELDS if s[k] != ""}, "priority": s["priority"]} for s in form.services],
    }
    if v.get("printer"):
        body["printer"] = v["printer"]
    return body, list(grouped.values())


def check(form: Form) -> tuple[KioskSettings | None, list[Problem]]:
    """The form's settings checked with the kiosk's own schema: the settings, or what is
    wrong, each named by its label in the form."""
    body, period_days = to_body(form)
    try:
        return KioskSettings.model_validate(body), []
    except ValidationError as exc:
        return None, [describe(tuple(e["loc"]), e["msg"], period_days) for e in exc.errors()]


def describe(loc: tuple, message: str, period_days: list[list[str]] | None = None) -> Problem:
    """A schema error's location (``('services', 0, 'prefix')``) as the form's label and field."""
    parts = [str(p) for p in loc]
    if parts[:1] == ["services"] or parts[:2] == ["info", "conveniences"]:
        name = "services" if parts[0] == "services" else "conveniences"
        rest = parts[1:] if name == "services" else parts[2:]
        if rest and rest[0].isdigit():
            n = int(rest[0])
            what = rest[1] if len(rest) > 1 else ("first" if name == "services" else "name_zh")
            row = "服务" if name == "services" else "便民服务"
            row_en = "Service" if name == "services" else "Convenience"
            label = f"{row} {n + 1} · {row_en} {n + 1}: " + (ROW_LABELS.get(what, what) if len(rest) > 1
                                                               else "号码范围 · Number range")
            return Problem(label, f"{name}.{n}.{what}", message)
        key = "services" if name == "services" else "info.conveniences"
        return Problem(LABELS[key], key, message)
    if parts[:2] == ["hours", "periods"]:
        days = (period_days or [])[int(parts[2])] if len(parts) > 2 and parts[2].isdigit() and period_days else []
        which = parts[3] if len(parts) > 3 else "open"
        label = "开放时间 · Opening hours" + (f" ({', '.join(DAY_LABELS[d] for d in days)})" if days else "")
        return Problem(label, f"hours.{days[0]}.0.{which}" if days else "hours", message)
    if len(parts) >= 2 and parts[0] == "hours" and parts[1] in LINES:
        line = f" （第 {int(parts[2]) + 1} 行 · line {int(parts[2]) + 1}）" if len(parts) > 2 and parts[2].isdigit() else ""
        return Problem(LABELS[f"hours.{parts[1]}"] + line, f"hours.{parts[1]}", message)
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in LABELS:
            return Problem(LABELS[key], key, message)
    if not parts:  # the settings as a whole: two services with one prefix or id
        if "service" in message or "prefix" in message:
            return Problem(LABELS["services"], "services", message)
        return Problem("配置 · Settings", "settings", message)
    key = ".".join(parts)
    return Problem(key, key, message)
