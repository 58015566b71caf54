"""The hall's first-aid box (急救医药箱) and convenience box (便民服务箱), seed 000 clauses
4.4.5 and 4.4.6: what is in each box, how much, of which batch and until when; who took
something out or restocked it; reminders before anything expires; inspection records.

Why medicine is refused: clause 4.4.5 says the box "不得提供非OTC药品". Hall staff are not
pharmacists, so a medicine goes in only when its pack carries the OTC mark (甲类 red or 乙类
green); a prescription medicine (处方药, Rx) or one whose pack shows no OTC mark is refused
with the reason, and nothing is written. The rule holds in the convenience box too, so it
cannot be got round there. The table's CHECK constraint says the same, should a later
caller skip this module.

Reminders go through the hall's one alarm model, one alarm per item
(``first_aid.<box>.<item id>``), its severity rising as the date nears: ``warning`` within
the first reminder (30 days by default), ``minor`` within the last (7 days), ``major`` once
expired ("过期，须撤出"). The text changes only when the step changes, so an hourly
:meth:`FirstAid.check` does not send the same alarm again. Taking the item out of the box,
restocking it with a new batch, or correcting its date clears or re-judges it at once.

Every change is written with its record for the centre in the same transaction. The sync
protocol has no ``first_aid`` kind yet (``central_sync/protocol.py`` ``RecordKind``), so the
records go as ``device_event`` with ``{"device": box, "event": ...}``; see ``OUTBOX_KIND``.

Example::

    aid = FirstAid(db_path, devices=config.devices, config=config.first_aid, alarms=alarms)
    item = aid.add("first-aid-1", who="staff-li", name="创可贴", kind="supply", quantity=20,
                   unit="片", expiry="2027-03-31")
    aid.take_out(item["id"], 2, who="staff-li")
    aid.check()   # hourly: reminders 30 and 7 days ahead, expired items
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Sequence
from zoneinfo import ZoneInfo

from central_sync import client as outbox
from hall_common.config import DeviceInfo, FirstAidConfig
from hall_common.errors import HallError, Refusal
from hall_common.storage import immediate

from .component import Component

log = logging.getLogger(__name__)

OUTBOX_KIND = "device_event"
"""``first_aid`` once ``central_sync.protocol.RecordKind`` accepts it."""

BOX_KINDS = {"first_aid_box": ("急救医药箱", "First-aid box"), "convenience_box": ("便民服务箱", "Convenience box")}
KINDS = {"medicine": "药品 · Medicine", "supply": "用品 · Supply"}
MARKINGS = {"otc_a": "甲类OTC（红色） · OTC class A (red)", "otc_b": "乙类OTC（绿色） · OTC class B (green)",
            "rx": "处方药 · Prescription (Rx)", "none": "未标明 · No OTC mark"}
ALLOWED_MARKINGS = ("otc_a", "otc_b")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_NAME, MAX_UNIT, MAX_BATCH, MAX_NOTE, MAX_QUANTITY = 64, 8, 32, 500, 9999
SEVERITY = {"soon": "warning", "near": "minor", "expired": "major"}


class FirstAidError(HallError):
    """Base class for errors of the first-aid and convenience boxes."""


class Refused(FirstAidError, Refusal):
    """What staff entered cannot be taken; nothing was written. ``zh`` and ``en`` say why,
    ``field`` names the form field to fix."""


@dataclass(frozen=True)
class Box:
    id: str
    kind: str
    model: str = ""
    location: str = ""

    @property
    def label(self) -> str:
        zh, en = BOX_KINDS[self.kind]
        return f"{zh} · {en}"


DEFAULT_BOXES = (Box("first-aid-1", "first_aid_box"), Box("convenience-1", "convenience_box"))


class FirstAid(Component):
    """The boxes' inventory, reminders and inspections on ``edge.db``.

    ``devices``: the hall's configured devices; its ``first_aid_box`` and ``convenience_box``
    entries are the boxes (none configured: one of each, ``first-aid-1`` and
    ``convenience-1``). ``alarms``: the hall's :class:`~edge_agent.alarms.Alarms`, or None
    (no reminders). ``clock`` and ``timezone`` decide what "today" is.
    """

    def __init__(self, db_path: Path, *, devices: Sequence[DeviceInfo] = (), config: FirstAidConfig | None = None,
                 alarms: Any = None, node: str = "edge", nudge: Callable[[], None] | None = None,
                 timezone: str = "Asia/Shanghai", clock: Callable[[], float] = time.time) -> None:
        boxes = [Box(d.id, d.kind, d.model, d.location) for d in devices if d.kind in BOX_KINDS]
        self.boxes = {b.id: b for b in (boxes or DEFAULT_BOXES)}
        steps = sorted({d for d in (config or FirstAidConfig()).reminder_days if d >= 0})
        self.far: int | None = steps[-1] if steps else None
        self.near: int | None = steps[0] if len(steps) > 1 else None
        self.alarms, self.node, self._nudge, self.clock = alarms, node, nudge, clock
        self.tz = ZoneInfo(timezone)
        self.own_connection(db_path)
        self.every(3600.0, self.check, name="first-aid-check", first_now=True)  # the dates, now and hourly

    name = "first_aid"

    # -- reading -------------------------------------------------------------------------------

    def today(self, now: float | None = None) -> date:
        return datetime.fromtimestamp(self.clock() if now is None else now, self.tz).date()

    def local(self, ts: float | None) -> str:
        """A time as the hall's wall clock shows it (inspection records are read months later)."""
        return "—" if ts is None else datetime.fromtimestamp(ts, self.tz).strftime("%Y-%m-%d %H:%M")

    def status(self, item: dict[str, Any], today: date) -> tuple[str, int | None]:
        """``ok`` / ``soon`` (within the first reminder) / ``near`` (within the last) /
        ``expired``, and the days left; an item that keeps has ``ok`` and None."""
        if not item["expiry"]:
            return "ok", None
        days = (date.fromisoformat(item["expiry"]) - today).days
        if days < 0:
            return "expired", days
        if self.near is not None and days <= self.near:
            return "near", days
        if self.far is not None and days <= self.far:
            return "soon", days
        return "ok", days

    def items(self, box: str, now: float | None = None) -> list[dict[str, Any]]:
        """The box's items now in it, the soonest to expire first, each with its status."""
        today = self.today(now)
        with self._lock:
            rows = list(self.db.query(
                "SELECT * FROM first_aid_items WHERE box = ? AND removed_at IS NULL "
                "ORDER BY expiry IS NULL, expiry, name", [box]))
        for row in rows:
            row["status"], row["days"] = self.status(row, today)
        return rows

    def item(self, item_id: str) -> dict[str, Any]:
        with self._lock:
            rows = list(self.db.query("SELECT * FROM first_aid_items WHERE id = ?", [item_id]))
        if not rows or rows[0]["removed_at"] is not None:
            raise Refused("找不到这件物品（可能已被移除）", "No such item (it may have been removed)", "item")
        return rows[0]

    def inspections(self, box: str, limit: int = 50) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.db.query("SELECT * FROM first_aid_inspections WHERE box = ? ORDER BY at DESC LIMIT ?",
                                      [box, limit]))

    def events(self, box: str, limit: int = 30) -> list[dict[str, Any]]:
        """The latest movements in and out of the box (the "dynamic management" of 4.4.5)."""
        with self._lock:
            return list(self.db.query("SELECT e.*, i.name, i.unit FROM first_aid_events e JOIN first_aid_items i "
                                      "ON i.id = e.item WHERE e.box = ? ORDER BY e.seq DESC LIMIT ?", [box, limit]))

    # -- changes -------------------------------------------------------------------------------

    def add(self, box: str, *, who: str, name: str, kind: str, quantity: int | str, unit: str,
            marking: str | None = None, batch: str = "", expiry: str | None = None) -> dict[str, Any]:
        """Put a new item in ``box``; raises :class:`Refused` (nothing written) for a
        medicine without an OTC mark or any bad field."""
        self._box(box)
        name = _text(name, "name", "名称", "name", MAX_NAME, required=True)
        if kind not in KINDS:
            raise Refused("请选择类别：药品或用品", "Choose the kind: medicine or supply", "kind")
        if kind == "medicine":
            _otc(marking)
        qty = _quantity(quantity)
        unit = _text(unit, "unit", "单位", "unit", MAX_UNIT, required=True)
        batch = _text(batch, "batch", "批号", "batch number", MAX_BATCH)
        day = self._expiry(expiry, required=kind == "medicine", future=True)
        now = self.clock()
        row = {"id": str(uuid.uuid4()), "box": box, "name": name, "kind": kind,
               "marking": marking if kind == "medicine" else None, "quantity": qty, "unit": unit, "batch": batch,
               "expiry": day, "added_by": who, "added_at": now, "updated_at": now}
        with self._lock, immediate(self.db):
            self.db["first_aid_items"].insert(row)
            self._record(row, "added", who, now, change=qty)
        self._judge(row["id"])
        return row

    def take_out(self, item_id: str, quantity: int | str = 1, *, who: str, note: str = "") -> dict[str, Any]:
        """Someone used or handed out ``quantity``; the item stays (at 0: to be restocked)."""
        qty = _quantity(quantity)
        note = _text(note, "note", "说明", "note", MAX_NOTE)
        with self._lock, immediate(self.db):
            row = self.item(item_id)
            if qty > row["quantity"]:
                raise Refused(f"箱内只有 {row['quantity']} {row['unit']}，不能取出 {qty}",
                              f"Only {row['quantity']} in the box; cannot take out {qty}", "quantity")
            row = self._update(row, {"quantity": row["quantity"] - qty}, "taken_out", who, change=-qty, note=note)
        self._judge(item_id)
        return row

    def restock(self, item_id: str, quantity: int | str, *, who: str, batch: str | None = None,
                expiry: str | None = None) -> dict[str, Any]:
        """Add ``quantity``. With a new batch or expiry date the old stock is withdrawn and
        replaced: one item is one batch, so its date stays the date of what is in the box."""
        qty = _quantity(quantity)
        with self._lock, immediate(self.db):
            row = self.item(item_id)
            new_batch = _text(batch, "batch", "批号", "batch number", MAX_BATCH) if batch else row["batch"]
            new_expiry = self._expiry(expiry, future=True) if expiry else row["expiry"]
            if (new_batch, new_expiry) == (row["batch"], row["expiry"]):
                row = self._update(row, {"quantity": row["quantity"] + qty}, "restocked", who, change=qty)
            else:
                note = f"换批，撤出 {row['quantity']}（批号 {row['batch'] or '—'}，有效期 {row['expiry'] or '—'}）"
                row = self._update(row, {"quantity": qty, "batch": new_batch, "expiry": new_expiry}, "new_batch", who,
                                   change=qty - row["quantity"], note=note)
        self._judge(item_id)
        return row

    def correct(self, item_id: str, *, who: str, expiry: str | None = None, batch: str | None = None) -> dict[str, Any]:
        """Put right a date or batch number entered wrongly; the date may be past (it is
        what the pack says), and the reminder follows the new date at once."""
        with self._lock, immediate(self.db):
            row = self.item(item_id)
            changes: dict[str, Any] = {}
            if expiry is not None:
                changes["expiry"] = self._expiry(expiry, required=row["kind"] == "medicine", future=False)
            if batch is not None:
                changes["batch"] = _text(batch, "batch", "批号", "batch number", MAX_BATCH)
            note = "; ".join(f"{k}: {row[k] or '—'} → {v or '—'}" for k, v in changes.items())
            row = self._update(row, changes, "corrected", who, change=0, note=note)
        self._judge(item_id)
        return row

    def remove(self, item_id: str, *, who: str, reason: str = "") -> dict[str, Any]:
        """Take the item out of the box for good (used up, expired and withdrawn, damaged);
        its record and its history stay."""
        reason = _text(reason, "reason", "原因", "reason", MAX_NOTE)
        with self._lock, immediate(self.db):
            row = self.item(item_id)
            row = self._update(row, {"removed_at": self.clock(), "removed_by": who, "removed_reason": reason},
                               "removed", who, change=-row["quantity"], note=reason)
        self._judge(item_id)
        return row

    def inspect(self, box: str, *, who: str, found: str, done: str = "") -> dict[str, Any]:
        """Record an inspection of ``box``: who, when, what was found, what was done, and
        the counts of expiring and expired items at that moment."""
        self._box(box)
        found = _text(found, "found", "检查情况", "what was found", MAX_NOTE, required=True)
        done = _text(done, "done", "处理措施", "what was done", MAX_NOTE)
        now = self.clock()
        states = [i["status"] for i in self.items(box, now)]
        row = {"id": str(uuid.uuid4()), "box": box, "at": now, "who": who, "found": found, "done": done,
               "items": len(states), "expiring": sum(s in ("soon", "near") for s in states),
               "expired": states.count("expired")}
        with self._lock, immediate(self.db):
            self.db["first_aid_inspections"].insert(row)
            outbox.add(self.db, OUTBOX_KIND, {"device": box, "event": "first_aid.inspection", "inspection": row},
                       node=self.node)
        self._poke()
        return row

    # -- reminders -----------------------------------------------------------------------------

    def check(self, now: float | None = None) -> list[str]:
        """Raise, update or clear each item's expiry alarm for ``now``; the ids that changed."""
        if self.alarms is None:
            return []
        today = self.today(now)
        with self._lock:
            rows = list(self.db.query("SELECT * FROM first_aid_items WHERE removed_at IS NULL"))
        changed = [r["id"] for r in rows if self._alarm(r, today)]
        alarming = {_alarm_id(r) for r in rows}
        for a in self.alarms.active():
            if a["id"].startswith("first_aid.") and a["id"] not in alarming and self.alarms.clear(a["id"]):
                changed.append(a["id"])  # an item gone some other way
        return changed

    def _judge(self, item_id: str) -> None:
        """After a change has committed: wake the sync worker, and re-judge the item's alarm
        at once (no waiting for the hourly check)."""
        self._poke()
        if self.alarms is None:
            return
        with self._lock:
            rows = list(self.db.query("SELECT * FROM first_aid_items WHERE id = ?", [item_id]))
        if rows:
            self._alarm(rows[0], self.today())

    def _alarm(self, row: dict[str, Any], today: date) -> bool:
        alarm_id = _alarm_id(row)
        state, _ = self.status(row, today)
        if row["removed_at"] is not None or row["quantity"] == 0 or state == "ok":
            return self.alarms.clear(alarm_id)
        zh, en = BOX_KINDS[self.boxes[row["box"]].kind] if row["box"] in self.boxes else ("箱", "Box")
        what = f"{row['name']}（批号 {row['batch']}）" if row["batch"] else row["name"]
        what_en = f"{row['name']} (batch {row['batch']})" if row["batch"] else row["name"]
        if state == "expired":
            text = (f"{zh} {row['box']}：{what}已于 {row['expiry']} 过期，须撤出 · "
                    f"{en} {row['box']}: {what_en} expired on {row['expiry']}: withdraw it now")
        else:
            days = self.near if state == "near" else self.far
            text = (f"{zh} {row['box']}：{what}将于 {row['expiry']} 到期（{days} 天内），请及时更换 · "
                    f"{en} {row['box']}: {what_en} expires on {row['expiry']} (within {days} days): replace it")
        return self.alarms.raise_(alarm_id, source=f"edge/{row['box']}", type="expired" if state == "expired" else "expiry_soon",
                                  severity=SEVERITY[state], text=text)

    # -- helpers -------------------------------------------------------------------------------

    def _box(self, box: str) -> Box:
        if box not in self.boxes:
            raise Refused(f"没有这个箱子：{box}", f"No such box: {box}", "box")
        return self.boxes[box]

    def _expiry(self, value: str | None, *, required: bool = False, future: bool) -> str | None:
        value = (value or "").strip()
        if not value:
            if required:
                raise Refused("药品须填写有效期", "A medicine needs its expiry date", "expiry")
            return None
        try:
            day = date.fromisoformat(value) if DATE.match(value) else None
        except ValueError:
            day = None
        if day is None:
            raise Refused("有效期格式不对，请按 2026-06-30 的格式填写", "The expiry date must look like 2026-06-30", "expiry")
        if future and day < self.today():
            raise Refused(f"有效期 {value} 已过，过期物品不能放入箱内",
                          f"It expired on {value}: expired items cannot go in the box", "expiry")
        return value

    def _update(self, row: dict[str, Any], changes: dict[str, Any], event: str, who: str, *, change: int,
                note: str = "") -> dict[str, Any]:
        now = self.clock()
        row = {**row, **changes, "updated_at": now}
        self.db["first_aid_items"].update(row["id"], {**changes, "updated_at": now})
        self._record(row, event, who, now, change=change, note=note)
        return row

    def _record(self, row: dict[str, Any], event: str, who: str, now: float, *, change: int, note: str = "") -> None:
        """The movement, and its record for the centre, in the caller's transaction."""
        self.db["first_aid_events"].insert({"item": row["id"], "box": row["box"], "ts": now, "event": event, "who": who,
                                            "change": change, "quantity": row["quantity"], "note": note})
        outbox.add(self.db, OUTBOX_KIND, {"device": row["box"], "event": f"first_aid.{event}", "who": who,
                                          "note": note, "item": row}, node=self.node)

    def _poke(self) -> None:
        if self._nudge is not None:
            self._nudge()


def _alarm_id(row: dict[str, Any]) -> str:
    return f"first_aid.{row['box']}.{row['id']}"


def _otc(marking: str | None) -> None:
    """Clause 4.4.5: OTC medicine only."""
    if marking in ALLOWED_MARKINGS:
        return
    if marking == "rx":
        raise Refused("处方药不得放入：按《客户服务中心服务规范》4.4.5，急救医药箱不得提供非OTC药品",
                      "Prescription (Rx) medicine is not allowed: clause 4.4.5 of the service standard permits OTC "
                      "medicine only", "marking")
    raise Refused("包装上没有OTC标识的药品不得放入：按《客户服务中心服务规范》4.4.5，不得提供非OTC药品；"
                  "请核对包装上的红色（甲类）或绿色（乙类）OTC标识",
                  "Medicine without an OTC mark is not allowed: clause 4.4.5 of the service standard permits OTC "
                  "medicine only; look for the red (class A) or green (class B) OTC mark on the pack", "marking")


def _quantity(value: int | str) -> int:
    try:
        qty = int(str(value).strip())
    except ValueError:
        qty = 0
    if not 1 <= qty <= MAX_QUANTITY:
        raise Refused(f"数量须为 1 到 {MAX_QUANTITY} 之间的整数", f"The quantity must be a whole number from 1 to {MAX_QUANTITY}",
                      "quantity")
    return qty


def _text(value: str | None, field: str, zh: str, en: str, max_len: int, *, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise Refused(f"请填写{zh}", f"Please enter the {en}", field)
    if len(value) > max_len:
        raise Refused(f"{zh}过长（最多 {max_len} 个字符）", f"The {en} is too long ({max_len} characters at most)", field)
    return value
