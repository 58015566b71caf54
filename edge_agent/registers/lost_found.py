"""失物招领 Lost and found: what was found, where and when, who handed it in, where it is
kept, a photo if there is one; then who claimed it (their ID checked, type and last 4 only),
or where it went when nobody did (handed to the police, say).

The photo is optional, taken from the console as an upload no larger than
``[registers] photo_max_kb``; it is kept shrunk in ``edge.db`` without its metadata (a
phone's photo carries where it was taken), shown on the entry's page only, and erased with
the entry's personal data. The description may quote what identifies the owner (a name on
an ID card in a wallet), so it counts as personal. The slip is the tag put on the item.
"""

from __future__ import annotations

from typing import Any, Literal

from .fields import (ID_TYPES, EntryFields, Last4, Line, MaybeLine, MaybeLong, MaybeName, MaybePhone, MaybeRoom, Name,
                     PastTime, Phone, Ticked, field)
from .framework import Register, Slip, Step, when, who


class FoundItem(EntryFields):
    item: Line = field("物品", "Item", hint="如 黑色钱包、钥匙一串")
    description: MaybeLong = field("特征描述", "Description", input="textarea", personal=True, default="")
    place: Line = field("拾获地点", "Where found")
    found_at: PastTime = field("拾获时间", "When found", input="datetime", suggest="now")
    finder_name: MaybeName = field("交来人", "Handed in by", input="name", personal=True, default="")
    finder_phone: MaybePhone = field("交来人电话", "Their phone", input="phone", personal=True, default="")
    kept_at: MaybeLine = field("存放位置", "Kept at", default="", hint="如 服务台保管柜 2 号")
    multiline = frozenset({"description"})


class Claim(EntryFields):
    name: Name = field("认领人", "Claimed by", input="name", personal=True)
    phone: Phone = field("认领人电话", "Their phone", input="phone", personal=True, room="room")
    room: MaybeRoom = field("认领人房号", "Their room", input="room", personal=True, default="")
    id_checked: Ticked = field("已核验认领人证件", "ID checked", input="checkbox", default=False)
    id_type: Literal["id_card", "passport", "permit", "driver", "work_card"] = field(
        "证件类型", "ID type", input="select", choices=ID_TYPES)
    id_last4: Last4 = field("证件号后 4 位", "ID, last 4", input="code", personal=True)


class Disposal(EntryFields):
    to: Line = field("去向", "Handed to", hint="如 移交辖区派出所")
    note: MaybeLine = field("说明", "Note", default="")


class LostFound(Register):
    name, zh, en, prefix = "lost_found", "失物招领", "Lost and found", "SW"
    open_zh, open_en = "待认领", "unclaimed"
    model = FoundItem
    photo = True
    steps = (Step("claim", "认领", "Claim", Claim, closes=True, done_zh="已认领", done_en="claimed"),
             Step("dispose", "移交处理", "Hand over", Disposal, closes=True, done_zh="已移交", done_en="handed over"))

    def line(self, entry: dict[str, Any], zone: Any) -> str:
        v = entry["fields"]
        return f"{v['item']} · {v['place']}拾获 · {when(entry['opened_at'], zone)} 登记"

    def slip(self, entry: dict[str, Any], zone: Any) -> Slip:
        v = entry["fields"]
        found = v["found_at"][:16].replace("T", " ")
        return Slip("失物招领登记", [f"物品：{v['item']}", f"拾获：{v['place']} {found}",
                                     f"交来人：{who(v, 'finder_name', 'finder_phone') or '—'}", f"存放：{v['kept_at'] or '—'}"],
                    footer="认领时请出示有效证件")
