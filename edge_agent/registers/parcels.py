"""快递/邮件 Parcels and mail (seed 001 section 十五; seed 004 1.1.2: 派发信件): what the front
desk received for residents, on which shelf, whether they were told, who picked it up.

Each parcel gets a 6-digit pickup code, printed big and as a QR code on its slip (the label
stuck on the parcel) and told to the resident when they are notified. Pickup asks for the
code: the parcel is found by it, and the code must match. A parcel picked up twice is
refused, saying when and by whom (masked) it went.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ValidationInfo, model_validator

from .fields import (Bad, EntryFields, MaybeLine, MaybePhone, MaybeShort, Name, Room, Short, field)
from .framework import Register, Slip, Step, when, who

KINDS = {"parcel": "快递 · Parcel", "mail": "平信 · Letter", "registered": "挂号信/EMS · Registered mail"}
CARRIERS = {c: c for c in ("顺丰", "京东", "中通", "圆通", "申通", "韵达", "极兔", "邮政EMS", "德邦", "其他")}
HOW = {"phone": "电话 · Phone call", "sms": "短信 · SMS", "wechat": "微信 · WeChat", "note": "留言条 · Note on the door"}
CODE = re.compile(r"^\d{6}$")


class Parcel(EntryFields):
    kind: Literal["parcel", "mail", "registered"] = field("类别", "Kind", input="select", choices=KINDS)
    carrier: Literal[tuple(CARRIERS)] = field("快递公司", "Carrier", input="select", choices=CARRIERS)  # type: ignore[valid-type]
    tracking_no: MaybeLine = field("运单号", "Tracking number", default="")
    room: Room = field("收件房号", "Room", input="room", personal=True)
    name: Name = field("收件人", "Recipient", input="name", personal=True)
    phone: MaybePhone = field("收件人电话", "Recipient's phone", input="phone", personal=True, room="room", default="")
    shelf: Short = field("货架位置", "Shelf", hint="如 A-03")


class Notice(EntryFields):
    how: Literal["phone", "sms", "wechat", "note"] = field("通知方式", "How", input="select", choices=HOW)
    note: MaybeLine = field("说明", "Note", default="", hint="如 未接通，已发短信")


class Pickup(EntryFields):
    code: Short = field("取件码", "Pickup code", input="code")
    by_name: Name = field("取件人", "Picked up by", input="name", personal=True)
    by_phone: MaybePhone = field("取件人电话", "Their phone", input="phone", personal=True, default="")
    on_behalf: MaybeShort = field("代取关系", "Collecting for", default="", hint="本人取件留空；代取时填 如 家人、邻居")

    @model_validator(mode="after")
    def _code(self, info: ValidationInfo) -> "Pickup":
        if not CODE.fullmatch(self.code) or self.code != info.context["entry"].get("code"):
            raise Bad("取件码不对", "the pickup code does not match", "code")
        return self


class Parcels(Register):
    name, zh, en, prefix = "parcels", "快递邮件", "Parcels", "KD"
    open_zh, open_en = "待取", "waiting"
    model = Parcel
    coded = True
    steps = (Step("notify", "通知", "Notify", Notice, done_zh="已通知", done_en="notified"),
             Step("pickup", "取件", "Pick up", Pickup, closes=True, done_zh="已取走", done_en="picked up"))

    def line(self, entry: dict[str, Any], zone: Any) -> str:
        v = entry["fields"]
        told = any(s["step"] == "notify" for s in entry.get("steps", ()))
        return (f"{KINDS[v['kind']].split(' · ')[0]} {v['carrier']} · {v['room']} {who(v, 'name', 'phone')} · "
                f"货架 {v['shelf']} · {'已通知' if told else '未通知'}")

    def slip(self, entry: dict[str, Any], zone: Any) -> Slip:
        v = entry["fields"]
        return Slip("快递取件单", [
            f"收件：{v['room']} {who(v, 'name', 'phone')}", f"{KINDS[v['kind']].split(' · ')[0]}：{v['carrier']} {v['tracking_no']}".rstrip(),
            f"货架：{v['shelf']}", f"到件：{when(entry['opened_at'], zone, '%Y-%m-%d %H:%M')}"],
            code=entry["code"] or "", code_label="取件码", footer="凭取件码到服务台取件")
