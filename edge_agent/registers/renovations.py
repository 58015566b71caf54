"""装修登记 Renovation registration (seed 001 section 十四; seed 003 (三); seed 004 chapter 3).

Before works start the owner registers them at the front desk: who does them, what, from
when to when, the deposit. Seed 003 (三).2 asks that the renovator be told the prohibited
works and the rules: the form cannot be saved until the clerk ticks that the notice
(《装修管理规定》) was given and signed. Works that touch the structure need the
authorities' approval (三).3: its document is then required. Staff inspect while works
run (巡查) and accept them at the end (验收), when the deposit is refunded.

A reminder (a warning alarm) comes ``renovation_remind_days`` before the end date and
stays, saying so, once it has passed without acceptance. The printed slip is the permit
posted on the door (装修施工许可证).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import ValidationInfo, model_validator

from ..printing.templates import yuan
from .fields import Bad, EntryFields, Fen, Line, Long, MaybeLine, Name, PastDay, Phone, Room, Ticked, field
from .framework import Register, Slip, Step, end_of, who

MAX_DAYS = 366
RESULTS = {"ok": "正常 · OK", "issue": "发现问题，已要求整改 · Issue found, told to fix"}


class Renovation(EntryFields):
    multiline: ClassVar[frozenset[str]] = frozenset({"works"})

    room: Room = field("房号", "Room", input="room", personal=True, hint="如 3-1-1201")
    owner_name: Name = field("业主姓名", "Owner", input="name", personal=True)
    owner_phone: Phone = field("业主电话", "Owner's phone", input="phone", personal=True, room="room")
    contractor: Line = field("施工单位", "Contractor", hint="装修公司或施工队")
    foreman_name: Name = field("施工负责人", "Foreman", input="name", personal=True)
    foreman_phone: Phone = field("负责人电话", "Foreman's phone", input="phone", personal=True)
    works: Long = field("施工内容", "Works", input="textarea")
    start_date: date = field("开工日期", "Start", input="date", suggest="today")
    end_date: date = field("完工日期", "End", input="date")
    deposit_fen: Fen = field("装修押金（元）", "Deposit (yuan)", input="yuan", default=0)
    structural: bool = field("涉及拆改房屋结构（承重墙、夹层等）", "Touches the structure", input="checkbox", default=False)
    approval: MaybeLine = field("结构变更批准文件", "Approval document", default="",
                                hint="涉及结构时必填：政府部门批准文件名称和文号")
    notice_ack: Ticked = field("已告知《装修管理规定》中的禁止行为和注意事项，装修人已签字确认",
                               "Told the prohibited works and rules (装修管理规定); the renovator signed", input="checkbox",
                               default=False)

    @model_validator(mode="after")
    def _dates(self, info: ValidationInfo) -> "Renovation":
        if self.end_date < self.start_date:
            raise Bad("不能早于开工日期", "cannot be before the start", "end_date")
        if self.end_date < info.context["now"].date():
            raise Bad("已过，不能登记已结束的装修", "has passed: a finished renovation cannot be registered", "end_date")
        if (self.end_date - self.start_date).days > MAX_DAYS:
            raise Bad(f"工期最长 {MAX_DAYS} 天", f"at most {MAX_DAYS} days of works", "end_date")
        if self.structural and not self.approval:
            raise Bad("涉及拆改结构时必填（政府部门的批准文件）", "required for structural works (the authorities' approval)", "approval")
        return self


def _after_start(day: date, info: ValidationInfo) -> None:
    start = info.context["entry"].get("start_date")
    if start and day < date.fromisoformat(start):
        raise Bad("不能早于开工日期", "cannot be before the works started", "on")


class Inspection(EntryFields):
    on: PastDay = field("巡查日期", "Date", input="date", suggest="today")
    inspector: Name = field("巡查人", "Inspector", input="name")
    result: Literal["ok", "issue"] = field("结果", "Result", input="select", choices=RESULTS)
    finding: Long = field("巡查情况", "What was found", input="textarea")
    multiline: ClassVar[frozenset[str]] = frozenset({"finding"})

    @model_validator(mode="after")
    def _dates(self, info: ValidationInfo) -> "Inspection":
        _after_start(self.on, info)
        return self


class Acceptance(EntryFields):
    on: PastDay = field("验收日期", "Date", input="date", suggest="today")
    inspector: Name = field("验收人", "Accepted by", input="name")
    result: Long = field("验收意见", "Findings", input="textarea")
    refund_fen: Fen = field("退还押金（元）", "Deposit refunded (yuan)", input="yuan", default=0)
    multiline: ClassVar[frozenset[str]] = frozenset({"result"})

    @model_validator(mode="after")
    def _refund(self, info: ValidationInfo) -> "Acceptance":
        _after_start(self.on, info)
        deposit = int(info.context["entry"].get("deposit_fen", 0))
        if self.refund_fen > deposit:
            raise Bad(f"不能多于所收押金 {yuan(deposit)}", f"cannot be more than the deposit taken, {yuan(deposit)}", "refund_fen")
        return self


class Renovations(Register):
    name, zh, en, prefix = "renovations", "装修登记", "Renovations", "ZX"
    open_zh, open_en = "施工中", "under way"
    model = Renovation
    steps = (Step("inspect", "巡查", "Inspect", Inspection),
             Step("accept", "验收", "Accept", Acceptance, closes=True, done_zh="已验收", done_en="accepted"))

    def __init__(self, *, remind_days: int = 3, inspect_every_days: int = 7) -> None:
        self.remind_days, self.inspect_every_days = remind_days, inspect_every_days

    def due(self, values: dict[str, Any], zone: ZoneInfo) -> float | None:
        return end_of(values["end_date"], zone)

    def line(self, entry: dict[str, Any], zone: ZoneInfo) -> str:
        v = entry["fields"]
        return (f"{v.get('room') or '—'} 装修 · {v['contractor']} · 业主 {who(v, 'owner_name', 'owner_phone')} · "
                f"{v['start_date']} 至 {v['end_date']}")

    def inspection_due(self, entry: dict[str, Any], now: float, zone: ZoneInfo) -> str | None:
        """Since when an inspection is due (works started, none for ``inspect_every_days``)."""
        today = datetime.fromtimestamp(now, zone).date()
        start = date.fromisoformat(entry["fields"]["start_date"])
        done = [date.fromisoformat(s["fields"]["on"]) for s in entry.get("steps", ()) if s["step"] == "inspect"]
        last = max(done, default=start)
        if today < start or (today - last).days < self.inspect_every_days:
            return None
        return last.isoformat()

    def reminder(self, entry: dict[str, Any], now: float, zone: ZoneInfo) -> tuple[str, str] | None:
        end = date.fromisoformat(entry["fields"]["end_date"])
        left = (end - datetime.fromtimestamp(now, zone).date()).days
        where = f"装修 {entry['serial']}（{entry['fields'].get('room') or '—'}）"
        if left < 0:
            return "warning", f"{where}已于 {end} 到期，尚未验收 · Renovation {entry['serial']} ended {end}: not accepted yet"
        if left <= self.remind_days:
            return "warning", (f"{where}将于 {end} 到期（{left} 天后），请安排验收 · "
                               f"Renovation {entry['serial']} ends {end} (in {left} days): arrange the acceptance")
        return None

    def slip(self, entry: dict[str, Any], zone: ZoneInfo) -> Slip:
        v = entry["fields"]
        return Slip("装修施工许可证", [
            f"房号：{v.get('room') or '—'}", f"施工单位：{v['contractor']}", f"负责人：{who(v, 'foreman_name', 'foreman_phone')}",
            f"工期：{v['start_date']} 至 {v['end_date']}", f"施工内容：{v['works']}"],
            footer="请张贴于户门显眼处。施工时间 8:00-12:00，14:00-18:00；\n禁止拆改承重结构，装修垃圾袋装后运至指定地点。")
