"""Shift handover at the front desk (交接班): the 交接班制度 of seed 000 clause 4.1, the
handover rules of seed 004 (1.3.1, 1.4.13) and the cashier's daily takings handed over on
a sheet (seed 004, 客服助理（兼职收银员）(11)).

A shift is opened on the staff console by the logged-in member of staff with the names of
who is on it; one shift is open at a time. Closing it freezes the handover sheet
(:mod:`edge_agent.handover_sheet`): open alarms, open requests with their deadlines, keys
out, parcels waiting and renovations due from the registers, the day's kiosk payments, the
takings (the QR money the system counted; the cash the receipts say and the cash counted,
and the difference: 长款/短款), and notes. The sheet is stored as JSON with the shift and
sent to the centre (a ``handover`` record) in the same transaction, and printed at the
counter's printer on request.

Someone of the next shift acknowledges it (name and time). A sheet still unacknowledged
30 minutes after the next shift started raises a major alarm (``handover.{shift id}``);
acknowledging clears it. A timer of the component looks every 30 seconds, on the
component's clock, so a test can move time.

Bad input is refused with :class:`HandoverRefused` naming the field, before anything is
written: empty names, a shift that is not open, a second acknowledgement, negative cash.

Example::

    handover = Handover(db_path, lambda: agent.services, node="edge")
    shift = handover.open_shift(label="早班", staff="张三、李四", who="staff")
    handover.close_shift(shift["id"], who="staff", cash_counted="120.50", cash_expected="120.50", notes="")
    handover.acknowledge(shift["id"], name="王五", who="wang")
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from central_sync import client as outbox
from hall_common.bus import contract
from hall_common.errors import HallError
from hall_common.storage import immediate

from . import handover_sheet
from .component import Component

log = logging.getLogger(__name__)

ACK_WITHIN_S = 30 * 60
"""How long into the next shift a sheet may stay unacknowledged before the alarm."""
CHECK_S = 30.0
LABELS = ("早班", "中班", "晚班", "白班", "夜班")
"""The usual names of a shift, offered on the console (any other name is taken too)."""
MAX_NAMES, MAX_NAME, MAX_LABEL, MAX_NOTES = 8, 16, 16, 1000
MAX_FEN = 100_000_000
"""¥1,000,000.00: more cash than any counter holds is a typing mistake."""
NAME_SPLIT = re.compile(r"[,，、;；\n\r]+")
MONEY = re.compile(r"^-?\d{1,9}(\.\d{1,2})?$")
OUTBOX_KIND = "handover"


class HandoverRefused(HallError, ValueError):
    """What staff entered cannot be taken; nothing was written. ``zh`` and ``en`` say why,
    ``field`` names the form field to fix."""

    def __init__(self, zh: str, en: str, field: str) -> None:
        super().__init__(f"{field}: {zh} · {en}")
        self.zh, self.en, self.field = zh, en, field


class Handover(Component):
    """Shifts and their sheets on ``edge.db``. ``services`` returns the agent's live
    services (:class:`~edge_agent.services.EdgeServices`) the sheet is read from, and the
    alarms and printer it uses; ``clock`` and ``timezone`` decide "now" and "today"."""

    name = "handover"

    def __init__(self, db_path: Path, services: Callable[[], Any], *, node: str = "edge",
                 nudge: Callable[[], None] | None = None, timezone: str = "Asia/Shanghai",
                 clock: Callable[[], float] = time.time, ack_within_s: float = ACK_WITHIN_S) -> None:
        self.services, self.node, self._nudge, self.clock = services, node, nudge, clock
        self.zone, self.ack_within_s = ZoneInfo(timezone), ack_within_s
        self.own_connection(db_path)
        self.timer = self.every(CHECK_S, self.check, name="handover-check")

    # -- reading -------------------------------------------------------------------------------

    def current(self) -> dict[str, Any] | None:
        """The open shift, or None."""
        return self._one("closed_at IS NULL")

    def shift(self, shift_id: str) -> dict[str, Any] | None:
        return self._one("id = ?", [shift_id])

    def pending(self) -> list[dict[str, Any]]:
        """Closed shifts whose sheet nobody has acknowledged yet, the oldest first."""
        return self._rows("closed_at IS NOT NULL AND acked_at IS NULL ORDER BY closed_at")

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        return self._rows("1 ORDER BY opened_at DESC LIMIT ?", [limit])

    def local(self, ts: float | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return "—" if ts is None else datetime.fromtimestamp(ts, self.zone).strftime(fmt)

    def overdue_at(self, row: dict[str, Any]) -> float | None:
        """When ``row``'s unacknowledged sheet turns into an alarm: 30 minutes after the
        next shift opened; None while no shift has opened since (or once acknowledged)."""
        if row["closed_at"] is None or row["acked_at"] is not None:
            return None
        with self._lock:
            start = self.db.execute("SELECT min(opened_at) FROM shifts WHERE opened_at >= ? AND id != ?",
                                    [row["closed_at"], row["id"]]).fetchone()[0]
        return None if start is None else start + self.ack_within_s

    # -- changes -------------------------------------------------------------------------------

    def open_shift(self, *, label: str, staff: str | list[str], who: str) -> dict[str, Any]:
        """Open a shift for ``staff`` (names, or one text of names split at 、，, ;); ``who``
        is the logged-in user opening it."""
        label = _text(label, "label", "班次", "shift name", MAX_LABEL, required=True)
        names = _names(staff)
        now = self.clock()
        row = {"id": str(uuid.uuid4()), "label": label, "staff": json.dumps(names, ensure_ascii=False),
               "opened_at": now, "opened_by": who}
        with self._lock, immediate(self.db):
            self._refuse_if_open()
            self.db["shifts"].insert(row)
        log.info("shift %s (%s) opened by %s: %s", row["id"], label, who, "、".join(names))
        return self._parsed(row)

    def close_shift(self, shift_id: str, *, who: str, cash_counted: str, cash_expected: str,
                    notes: str = "") -> dict[str, Any]:
        """Close the open shift ``shift_id``: the sheet is built now, frozen with the shift
        and queued for the centre in one transaction."""
        takings = {"cash_counted_fen": _fen(cash_counted, "cash_counted", "现金实点", "cash counted"),
                   "cash_expected_fen": _fen(cash_expected, "cash_expected", "现金应收", "cash due")}
        notes = _text(notes, "notes", "备注", "notes", MAX_NOTES, multiline=True)
        shift = self._open_shift(shift_id)
        now = max(self.clock(), shift["opened_at"])
        # Read from the other services outside this component's lock (each takes its own).
        sheet = handover_sheet.build(shift, self.services(), now=now, zone=self.zone, takings=takings, notes=notes,
                                     closed_by=who)
        with self._lock, immediate(self.db):
            self._open_shift(shift_id)  # still open: closed meanwhile from another page is refused
            self.db.execute("UPDATE shifts SET closed_at = ?, closed_by = ?, sheet = ? WHERE id = ?",
                            [now, who, json.dumps(sheet, ensure_ascii=False), shift_id])
            outbox.add(self.db, OUTBOX_KIND, handover_sheet.for_centre(shift_id, sheet), node=self.node)
        self._poke()
        log.info("shift %s closed by %s", shift_id, who)
        return self.shift(shift_id) or {}

    def acknowledge(self, shift_id: str, *, name: str, who: str) -> dict[str, Any]:
        """``name`` of the next shift has read the sheet and takes it over; ``who`` is the
        logged-in user. Once only; clears the sheet's alarm."""
        name = _text(name, "name", "接班人姓名", "name of who takes over", MAX_NAME, required=True)
        with self._lock:
            with immediate(self.db):
                row = self.shift(shift_id)
                if row is None or row["closed_at"] is None:
                    raise HandoverRefused("该班次尚未交班，没有可签收的交接单", "This shift has not been handed over yet",
                                          "shift")
                if row["acked_at"] is not None:
                    raise HandoverRefused(f"该交接单已由 {row['acked_by']} 于 {self.local(row['acked_at'])} 签收，不能重复签收",
                                          f"Already acknowledged by {row['acked_by']}", "shift")
                now, current = self.clock(), self.current()
                by = {"acked_at": now, "acked_by": name, "acked_user": who,
                      "acked_shift": current["id"] if current and current["id"] != shift_id else None}
                self.db["shifts"].update(shift_id, by)
                outbox.add(self.db, OUTBOX_KIND, {"event": "acknowledged", "shift": shift_id, **by}, node=self.node)
            alarms = self.services().alarms
            if alarms is not None:
                alarms.clear(_alarm_id(shift_id))
        self._poke()
        log.info("handover of shift %s acknowledged by %s", shift_id, name)
        return self.shift(shift_id) or {}

    def print_sheet(self, shift_id: str, printer: str) -> dict[str, Any]:
        """Print the sheet at ``printer``: an original while none has come out (the first
        failed, say), later ones marked 重打 REPRINT; with who received it once
        acknowledged, else a line to sign."""
        printing = self.services().printing
        row = self.shift(shift_id)
        if row is None or row["sheet"] is None:
            raise HandoverRefused("该班次尚未交班，没有交接单可打印", "This shift has no sheet yet", "shift")
        if printing is None or printer not in printing.printers:
            raise HandoverRefused("请选择打印机", "Choose a printer", "printer")
        received = f"{row['acked_by']}（{self.local(row['acked_at'])} 签收）" if row["acked_at"] else ""
        fields = printing.templates.validate(
            "handover_sheet", handover_sheet.print_fields(row["sheet"], received=received, zone=self.zone)).model_dump()
        earlier = printing.view(row["print_job"]) if row["print_job"] else None
        reprint = earlier is not None and earlier["status"] != "failed"  # a sheet is out, or on its way
        job = str(uuid.uuid4())
        view: dict[str, Any] = printing.submit(job, contract.EDGE_NODE, "handover_sheet", fields, preferred=printer,
                                               reprint_of=row["print_job"] if reprint else None)
        if not reprint:  # this one is the sheet's original
            with self._lock, immediate(self.db):
                self.db.execute("UPDATE shifts SET print_job = ? WHERE id = ?", [job, shift_id])
        return view

    # -- the alarm -----------------------------------------------------------------------------

    def check(self, now: float | None = None) -> list[str]:
        """Raise the alarm of each sheet left unacknowledged 30 minutes into the next shift;
        the shifts whose alarm changed. Runs on the component's timer."""
        alarms = self.services().alarms
        if alarms is None:
            return []
        now = self.clock() if now is None else now
        raised = []
        with self._lock:  # held while raising: an acknowledgement cannot slip in between
            for row in self.pending():
                due = self.overdue_at(row)
                if due is None or now < due:
                    continue
                names, closed = "、".join(row["staff"]), self.local(row["closed_at"], "%m-%d %H:%M")
                text = (f"交接单未签收：{row['label']}（{names}，{closed} 交班）在接班 {int(self.ack_within_s // 60)} 分钟后"
                        f"仍无人签收，请接班人核对并签收 · The handover of the {row['label']} shift closed at {closed} "
                        f"is not acknowledged {int(self.ack_within_s // 60)} minutes into the next shift")
                if alarms.raise_(_alarm_id(row["id"]), source=f"{self.node}/handover", type="handover_unacknowledged",
                                 severity="major", text=text):
                    raised.append(row["id"])
        return raised

    # -- helpers -------------------------------------------------------------------------------

    def _one(self, where: str, args: list[Any] | None = None) -> dict[str, Any] | None:
        rows = self._rows(where, args)
        return rows[0] if rows else None

    def _rows(self, where: str, args: list[Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [self._parsed(r) for r in self.db.query(f"SELECT * FROM shifts WHERE {where}", args or [])]

    @staticmethod
    def _parsed(row: dict[str, Any]) -> dict[str, Any]:
        out = {"closed_at": None, "closed_by": None, "sheet": None, "acked_at": None, "acked_by": None,
               "acked_user": None, "acked_shift": None, "print_job": None, **row}
        out["staff"] = json.loads(out["staff"])
        out["sheet"] = json.loads(out["sheet"]) if out["sheet"] else None
        return out

    def _refuse_if_open(self) -> None:
        current = self.current()
        if current is not None:
            raise HandoverRefused(
                f"已有班次在岗：{current['label']}（{'、'.join(current['staff'])}，{self.local(current['opened_at'])} 开班），"
                "请先交班", f"A shift is already open ({current['label']}): close it first", "shift")

    def _open_shift(self, shift_id: str) -> dict[str, Any]:
        row = self.shift(shift_id)
        if row is None or row["closed_at"] is not None:
            raise HandoverRefused("该班次不在岗（未开班或已交班），不能交班", "This shift is not open: it cannot be closed",
                                  "shift")
        return row

    def _poke(self) -> None:
        if self._nudge is not None:
            self._nudge()


def _alarm_id(shift_id: str) -> str:
    return f"handover.{shift_id}"


def _text(value: str | None, field: str, zh: str, en: str, max_len: int, *, required: bool = False,
          multiline: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise HandoverRefused(f"请填写{zh}", f"Please enter the {en}", field)
    if len(value) > max_len:
        raise HandoverRefused(f"{zh}过长（最多 {max_len} 个字）", f"The {en} is too long ({max_len} characters at most)",
                              field)
    allowed = "\n\r\t" if multiline else ""
    if any(ord(c) < 32 and c not in allowed for c in value):
        raise HandoverRefused(f"{zh}含有不能打印的字符", f"The {en} holds characters that cannot be printed", field)
    return value


def _names(staff: str | list[str]) -> list[str]:
    """The names of who is on the shift, in order, each once."""
    raw = NAME_SPLIT.split(staff) if isinstance(staff, str) else list(staff)
    names = list(dict.fromkeys(n for n in (_text(n, "staff", "姓名", "name", MAX_NAME) for n in raw) if n))
    if not names:
        raise HandoverRefused("请填写当班人员姓名（多人用顿号“、”分开）", "Enter the names of who is on the shift", "staff")
    if len(names) > MAX_NAMES:
        raise HandoverRefused(f"当班人员最多 {MAX_NAMES} 人", f"At most {MAX_NAMES} people on one shift", "staff")
    return names


def _fen(value: str | None, field: str, zh: str, en: str) -> int:
    """Yuan as staff type it (``120``, ``120.5``, ``1,234.50``) → fen; refused when empty,
    not a number, negative, with more than two decimals or implausibly large."""
    text = (value or "").strip().replace(",", "").replace("，", "").removeprefix("¥").removeprefix("￥").strip()
    if not text:
        raise HandoverRefused(f"请填写{zh}金额（没有请填 0）", f"Enter the {en} (0 if none)", field)
    if not MONEY.match(text):
        raise HandoverRefused(f"{zh}金额格式不对，请填写如 1234.50 的数字", f"The {en} must be a number like 1234.50", field)
    try:
        fen = int(Decimal(text) * 100)
    except InvalidOperation:  # the pattern above lets no such text through
        raise HandoverRefused(f"{zh}金额格式不对", f"The {en} is not a number", field) from None
    if fen < 0:
        raise HandoverRefused(f"{zh}金额不能为负数", f"The {en} cannot be negative", field)
    if fen > MAX_FEN:
        raise HandoverRefused(f"{zh}金额过大（最多 ¥1,000,000.00），请核对", f"The {en} is too large: check it", field)
    return fen
