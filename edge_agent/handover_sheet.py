"""What a shift's handover sheet (交接班记录) says, built from the hall's live services when
the shift closes, and the same sheet as the printer and the centre take it.

The sheet is plain JSON, frozen with the shift (``shifts.sheet``): the next shift, the
printout and the centre all read the same words, however the requests and registers
change afterwards. Each section is a list of items ``{id, text, since, due}``: one line
of Chinese, when it began, and its deadline where it has one. A section whose source is
not running says so (``available`` false, ``missing`` the reason) instead of "nothing".

No resident's personal data goes on the sheet: requests are named by tracking number,
category, grade and status (the record page has the rest); kiosk payments by time, amount,
kiosk and the tail of the payment number; the registers' lines are kept as the registers
give them, with any mobile number masked on the way in.

Example::

    sheet = build(shift, services, now=time.time(), zone=ZoneInfo("Asia/Shanghai"), takings=...)
    fields = print_fields(sheet, received="", zone=zone)      # for the handover_sheet template
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, time as day_start
from typing import Any
from zoneinfo import ZoneInfo

from central_sync.protocol import MAX_RECORD_BYTES
from hall_common.privacy import mask_phone

from .complaints.service import STATUS_TEXT
from .complaints.tracking import readable
from .printing.templates import yuan

log = logging.getLogger(__name__)

VERSION = 1
SECTIONS = ("alarms", "requests", "keys_out", "parcels_waiting", "renovations_due", "payments")
"""The sheet's sections, in the order they are read and printed."""
TITLES = {"alarms": ("未解除告警", "Open alarms"), "requests": ("未办结报事投诉", "Open requests"),
          "keys_out": ("钥匙借出未还", "Keys out"), "parcels_waiting": ("待取快递/邮件", "Parcels waiting"),
          "renovations_due": ("装修登记到期", "Renovations due"), "payments": ("今日自助缴费（扫码）", "Kiosk payments today")}
REGISTERS = ("keys_out", "parcels_waiting", "renovations_due")
"""The sections the registers give (``services.registers.open_for_handover(now)``)."""
NO_REGISTERS = "暂无登记簿"
SEVERITY = {"critical": "紧急", "major": "重要", "minor": "次要", "warning": "提示"}
GRADES = {"emergency": "紧急", "important": "重要", "general": "一般", "suggestion": "建议/咨询"}
KINDS = {"complaint": "投诉", "repair": "报修", "suggestion": "建议", "consultation": "咨询", "praise": "表扬"}
PRINT_LINES = 100
"""Lines printed per section at most; the rest are counted ("另有 N 项") and on the console."""


def section(key: str, items: list[dict[str, Any]], *, missing: str = "", **extra: Any) -> dict[str, Any]:
    zh, en = TITLES[key]
    return {"key": key, "title": zh, "title_en": en, "available": not missing, "missing": missing, "items": items,
            **extra}


def build(shift: dict[str, Any], services: Any, *, now: float, zone: ZoneInfo, takings: dict[str, int],
          notes: str, closed_by: str) -> dict[str, Any]:
    """The sheet of ``shift`` closing at ``now``: every section read from ``services`` (an
    :class:`~edge_agent.services.EdgeServices`; a missing one is shown as missing)."""
    qr, day = _payments(services.payments, shift["opened_at"], now, zone)
    sections = [_alarms(services.alarms), _requests(services.complaints, now), *_registers(services, now), day]
    return {
        "version": VERSION,
        "shift": {"id": shift["id"], "label": shift["label"], "staff": shift["staff"], "opened_at": shift["opened_at"],
                  "opened_by": shift["opened_by"], "closed_at": now, "closed_by": closed_by},
        "sections": sections,
        "takings": {"qr_fen": qr, **takings,
                    "difference_fen": takings["cash_counted_fen"] - takings["cash_expected_fen"]},
        "notes": notes,
    }


def _alarms(alarms: Any) -> dict[str, Any]:
    """Active alarms, the most severe first. An emergency report's alarm quotes what the
    resident said and where: on the sheet it is named by its tracking number instead."""
    if alarms is None:
        return section("alarms", [], missing="告警服务未运行")
    items = []
    for a in alarms.active():
        text = a["text"]
        if a["type"] == "emergency_report":
            text = f"紧急报事 {readable(a['id'].removeprefix('complaint.'))}，详见报事投诉"
        items.append({"id": a["id"], "text": f"[{SEVERITY.get(a['severity'], a['severity'])}] {text}",
                      "since": a["raised_at"], "due": None})
    return section("alarms", items)


def _requests(complaints: Any, now: float) -> dict[str, Any]:
    """Open requests, the most urgent first; a request still waiting to be accepted carries
    its first-feedback deadline (late when passed), the others their status."""
    if complaints is None:
        return section("requests", [], missing="报事投诉服务未运行")
    items = []
    for c in complaints.open_requests():
        category = complaints.categories.get(c["category"])
        what = f"{KINDS.get(c['kind'], c['kind'])}·{category.name_zh if category else c['category']}"
        waiting = c["status"] == "submitted"
        late = "，已逾期" if waiting and c["feedback_due"] <= now else ""
        grade, status = GRADES.get(c["grade"], c["grade"]), STATUS_TEXT.get(c["status"], c["status"])
        text = f"{readable(c['tracking_no'])} [{grade}] {what} · {status}{late}"
        items.append({"id": c["tracking_no"], "text": text, "since": c["received_at"],
                      "due": c["feedback_due"] if waiting else None})
    return section("requests", items)


def _registers(services: Any, now: float) -> list[dict[str, Any]]:
    """Keys out, parcels waiting and renovations due, from the registers if the hall has
    them. A registers component that fails is logged and its sections say so: the shift
    must still be able to close."""
    registers = getattr(services, "registers", None)
    if registers is None:
        return [section(key, [], missing=NO_REGISTERS) for key in REGISTERS]
    try:
        found = registers.open_for_handover(now)
    except Exception:
        log.exception("the registers could not be read for the handover sheet")
        return [section(key, [], missing="登记簿读取失败，请到登记簿页面核对") for key in REGISTERS]
    return [section(key, [_register_item(item) for item in found.get(key, [])]) for key in REGISTERS]


def _register_item(item: dict[str, Any]) -> dict[str, Any]:
    """Only what the sheet shows (id, text, since, due): any other field of the register's
    row stays out of the frozen sheet, and a mobile number in the text is masked."""
    since, due = item.get("since"), item.get("due")
    return {"id": str(item["id"]), "text": mask_phone(str(item["text"]).strip())[:200],
            "since": since if isinstance(since, (int, float, str)) else None,
            "due": due if isinstance(due, (int, float, str)) else None}


def _payments(desk: Any, opened_at: float, now: float, zone: ZoneInfo) -> tuple[int, dict[str, Any]]:
    """The QR money taken at the kiosks during the shift, and the section listing the day's
    paid orders with the day's total."""
    if desk is None:
        return 0, section("payments", [], missing="本大厅未连接总部，无自助缴费", total_fen=0)
    midnight = datetime.combine(datetime.fromtimestamp(now, zone).date(), day_start(0), zone).timestamp()
    orders = desk.paid_between(min(midnight, opened_at), now)
    items = []
    for o in orders:
        if o["paid_at"] < midnight:
            continue
        refund = "（重复支付，需退款）" if o["status"] == "paid_conflict" else ""
        items.append({"id": o["order_id"], "since": o["paid_at"], "due": None, "amount_fen": o["amount_fen"],
                      "text": f"{yuan(o['amount_fen'])} · {o['kiosk']} · 单号尾号 {o['out_trade_no'][-6:]}{refund}"})
    qr = sum(o["amount_fen"] for o in orders if o["paid_at"] >= opened_at)
    return qr, section("payments", items, total_fen=sum(i["amount_fen"] for i in items))


# -- reading the sheet -----------------------------------------------------------------------


def when(value: Any, zone: ZoneInfo, fmt: str = "%m-%d %H:%M") -> str:
    """A time on the sheet as the hall's clock shows it (a register may give text)."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, zone).strftime(fmt)
    return str(value) if value else ""


def item_line(item: dict[str, Any], zone: ZoneInfo) -> str:
    """One item as one line (300 characters at most, as the printout takes it): its text,
    since when, and its deadline."""
    parts = [item["text"]]
    if item.get("since") not in (None, ""):
        parts.append(f"自 {when(item['since'], zone)}")
    if item.get("due") not in (None, ""):
        parts.append(f"期限 {when(item['due'], zone)}")
    line = " · ".join(parts)
    return line if len(line) <= 300 else line[:299] + "…"


def difference_text(fen: int) -> str:
    """The cash counted against the cash due, as a cashier says it: 长款 (over), 短款 (short)."""
    if fen == 0:
        return f"相符 {yuan(0)}"
    return f"{'长款' if fen > 0 else '短款'} {yuan(abs(fen))}"


def print_fields(sheet: dict[str, Any], *, received: str, zone: ZoneInfo) -> dict[str, Any]:
    """The ``handover_sheet`` template's fields; ``received`` is who acknowledged it and
    when, or empty for a blank to sign."""
    shift, t = sheet["shift"], sheet["takings"]
    sections = []
    for s in sheet["sections"]:
        lines = [item_line(i, zone) for i in s["items"]]
        if len(lines) > PRINT_LINES:
            lines = lines[:PRINT_LINES - 1] + [f"……另有 {len(lines) - PRINT_LINES + 1} 项，见员工控制台"]
        if s["key"] == "payments" and s["available"]:
            lines.append(f"今日合计 {yuan(s['total_fen'])}（{len(s['items'])} 笔）")
        sections.append({"title": f"{s['title']}（{len(s['items'])}）" if s["available"] else s["title"],
                         "lines": lines, "empty": s["missing"] or "无"})
    return {
        "label": shift["label"], "staff": "、".join(shift["staff"]), "closed_by": shift["closed_by"],
        "opened_at": when(shift["opened_at"], zone, "%Y-%m-%d %H:%M"),
        "closed_at": when(shift["closed_at"], zone, "%Y-%m-%d %H:%M"),
        "sections": sections,
        "takings": [{"name": "本班扫码收款（系统）", "amount_fen": t["qr_fen"]},
                    {"name": "现金应收（按收据）", "amount_fen": t["cash_expected_fen"]},
                    {"name": "现金实点", "amount_fen": t["cash_counted_fen"]}],
        "difference": difference_text(t["difference_fen"]),
        "notes": sheet["notes"],
        "received": received or "____________（签字）",
    }


def erase(sheet: dict[str, Any], text: str) -> dict[str, Any]:
    """The sheet with what may name a resident or a room replaced by ``text``: the registers'
    lines and the notes (retention, ``privacy.keep_years`` after the close). Who was on, the
    times, the counts and the takings stay. The centre erases its copy the same way
    (central_sync/server/retention.py)."""
    out = json.loads(json.dumps(sheet))
    for s in out["sections"]:
        if s["key"] in REGISTERS:
            for item in s["items"]:
                item["text"] = text
    if out["notes"]:
        out["notes"] = text
    out["erased"] = True
    return out


def for_centre(shift_id: str, sheet: dict[str, Any]) -> dict[str, Any]:
    """The ``handover`` record's body: the whole sheet when it fits a record (32 KB), else
    the longest sections cut until it does, each cut one saying how many items it left out
    (the hall keeps the whole sheet)."""
    body = {"event": "closed", "shift": shift_id, "sheet": json.loads(json.dumps(sheet))}
    while len(json.dumps(body, ensure_ascii=False).encode()) > MAX_RECORD_BYTES - 512:
        longest = max(body["sheet"]["sections"], key=lambda s: len(s["items"]))
        if not longest["items"]:
            body["sheet"]["notes"] = body["sheet"]["notes"][:200]
            break
        keep = len(longest["items"]) // 2
        longest["omitted"] = longest.get("omitted", 0) + len(longest["items"]) - keep
        longest["items"] = longest["items"][:keep]
    return body
