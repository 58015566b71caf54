"""钥匙 Key custody (seed 001 section 十八; seed 004 1.4.11): the keys the property holds
(residents' spare keys left in its care, plant rooms, meter cabinets) lent and returned.

Lending checks the borrower's ID: the clerk ticks that it was checked and keeps only its type
and last 4 characters (seed 003 (七): collect only what is needed). A key has a time it is
due back; once that passes, a warning alarm says the key is overdue until it is returned. A
key returned twice is refused, saying when it came back. The slip is the borrowing note
(借用凭条) the borrower signs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import ValidationInfo, model_validator

from .fields import (ID_TYPES, Bad, EntryFields, LaterTime, Last4, Line, MaybeLine, MaybeRoom, Name, Phone, Ticked, field)
from .framework import Register, Slip, Step, when, who

MAX_DAYS = 30


class KeyLoan(EntryFields):
    key: Line = field("钥匙", "Key", hint="如 3-1-1201 户门备用钥匙、B2 水泵房钥匙")
    name: Name = field("借用人", "Borrower", input="name", personal=True)
    phone: Phone = field("借用人电话", "Borrower's phone", input="phone", personal=True, room="room")
    room: MaybeRoom = field("借用人房号", "Borrower's room", input="room", personal=True, default="", hint="住户借用时填写")
    id_checked: Ticked = field("已核验借用人证件", "ID checked", input="checkbox", default=False)
    id_type: Literal["id_card", "passport", "permit", "driver", "work_card"] = field(
        "证件类型", "ID type", input="select", choices=ID_TYPES)
    id_last4: Last4 = field("证件号后 4 位", "ID, last 4", input="code", personal=True)
    due_back: LaterTime = field("应还时间", "Due back", input="datetime", suggest="evening")
    purpose: MaybeLine = field("用途", "Purpose", default="", hint="如 维修入户、抄表")

    @model_validator(mode="after")
    def _not_too_long(self, info: ValidationInfo) -> "KeyLoan":
        if (self.due_back - info.context["now"]).days >= MAX_DAYS:
            raise Bad(f"借用最长 {MAX_DAYS} 天", f"at most {MAX_DAYS} days", "due_back")
        return self


class KeyReturn(EntryFields):
    returned_by: Name = field("归还人", "Returned by", input="name", personal=True)
    condition: MaybeLine = field("钥匙情况", "Condition", default="", hint="如 完好")


class Keys(Register):
    name, zh, en, prefix = "keys", "钥匙借用", "Keys", "YS"
    open_zh, open_en = "借出中", "out"
    model = KeyLoan
    steps = (Step("return", "归还", "Return", KeyReturn, closes=True, done_zh="已归还", done_en="returned"),)

    def due(self, values: dict[str, Any], zone: ZoneInfo) -> float | None:
        return datetime.fromisoformat(values["due_back"]).timestamp()

    def line(self, entry: dict[str, Any], zone: ZoneInfo) -> str:
        v = entry["fields"]
        return f"钥匙 {v['key']} · 借用人 {who(v, 'name', 'phone')} · 应还 {when(entry['due_at'], zone)}"

    def reminder(self, entry: dict[str, Any], now: float, zone: ZoneInfo) -> tuple[str, str] | None:
        if entry["due_at"] is None or now <= entry["due_at"]:
            return None
        due = when(entry["due_at"], zone)
        return "warning", (f"钥匙逾期未还：{entry['serial']} {entry['fields']['key']}，应于 {due} 归还 · "
                           f"Key overdue: {entry['serial']}, due back {due}")

    def slip(self, entry: dict[str, Any], zone: ZoneInfo) -> Slip:
        v = entry["fields"]
        return Slip("钥匙借用凭条", [
            f"钥匙：{v['key']}", f"借用人：{who(v, 'name', 'phone')}", f"证件：{ID_TYPES[v['id_type']].split(' · ')[0]} ****{v['id_last4']}",
            f"借出：{when(entry['opened_at'], zone, '%Y-%m-%d %H:%M')}", f"应还：{when(entry['due_at'], zone, '%Y-%m-%d %H:%M')}"],
            footer="借用人签字：____________\n经办人签字：____________")
