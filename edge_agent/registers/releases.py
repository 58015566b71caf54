"""放行条 Goods release (seed 001 section 十一; seed 004 5.7: 业户物品放行管理): a resident
moving large items out asks at the front desk; the release is approved, printed as the slip
the gate keeps (the 放行条 itself), and checked out at the gate by the guard on duty, once.
A release checked out a second time is refused, saying when it went.
"""

from __future__ import annotations

from typing import Any

from .fields import ComingDay, EntryFields, Long, MaybeLine, MaybeShort, Name, Phone, Room, field
from .framework import Register, Slip, Step, who


class Release(EntryFields):
    room: Room = field("房号", "Room", input="room", personal=True)
    name: Name = field("申请人", "Applicant", input="name", personal=True)
    phone: Phone = field("申请人电话", "Applicant's phone", input="phone", personal=True, room="room")
    items: Long = field("放行物品", "Items", input="textarea", hint="名称和件数，如 旧沙发 1 套、纸箱 6 个")
    approved_by: Name = field("审批人", "Approved by", input="name")
    out_on: ComingDay = field("放行日期", "Date out", input="date", suggest="today")
    vehicle: MaybeShort = field("车牌号", "Vehicle", default="")
    multiline = frozenset({"items"})


class Checkout(EntryFields):
    guard: Name = field("门岗值班人", "Guard on duty", input="name")
    note: MaybeLine = field("说明", "Note", default="", hint="如 物品与放行条一致")


class Releases(Register):
    name, zh, en, prefix = "releases", "物品放行", "Goods release", "FX"
    open_zh, open_en = "待出门", "not out yet"
    model = Release
    steps = (Step("checkout", "出门核验", "Check out at the gate", Checkout, closes=True, done_zh="已出门",
                  done_en="checked out"),)

    def line(self, entry: dict[str, Any], zone: Any) -> str:
        v = entry["fields"]
        items = v["items"].replace("\n", "，")
        return f"{v['room']} {who(v, 'name', 'phone')} · {items[:30]}{'…' if len(items) > 30 else ''} · {v['out_on']} 放行"

    def slip(self, entry: dict[str, Any], zone: Any) -> Slip:
        v = entry["fields"]
        return Slip("物品放行条", [f"房号：{v['room']}", f"申请人：{who(v, 'name', 'phone')}", f"放行日期：{v['out_on']}",
                                   f"车牌：{v['vehicle'] or '—'}", "放行物品：", *v["items"].splitlines(),
                                   f"审批人：{v['approved_by']}"],
                    footer="门岗核验物品后收回本条。\n门岗签字：____________")
