"""What a register's form holds, as pydantic models: the field types front-desk forms share
(a name, a mobile, a room, a date that cannot be in the future ...), each field's Chinese and
English label and how the console shows it, and the one translation of a validation error
into a refusal that names the field in both languages.

A register declares its forms as models of :class:`EntryFields`, each field made with
:func:`field`; the console draws the form from the model (:func:`form_fields`) and the
component checks what was typed with it (:func:`checked`). So the label a clerk reads, the
rule that refuses, and the message that says why come from one line.

Example::

    class KeyReturn(EntryFields):
        returned_by: Name = field("归还人", "Returned by", input="name", personal=True)

    checked(KeyReturn, {"returned_by": "  "}, now=now)   # Refused: 归还人：请填写 · Returned by: required
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Mapping

from pydantic import AfterValidator, Field, StringConstraints, ValidationError, ValidationInfo

from hall_common.errors import HallError, Refusal

from ..printing.templates import Fields

MOBILE = re.compile(r"^1[3-9]\d{9}$")
MAX_FEN = 10_000_000
"""¥100,000: more than any deposit a front desk takes."""


class RegisterError(HallError):
    """Base class for errors of the front desk's registers."""


class Refused(RegisterError, Refusal):
    """What staff entered cannot be taken; nothing was written. ``zh`` and ``en`` say why,
    ``field`` names the form field to fix."""


class Bad(Refusal):
    """Raised inside a validator (pydantic wraps it, being a ValueError): what is wrong,
    said after the field's label; ``field`` for a rule across fields, whose error pydantic
    files under no field."""


class EntryFields(Fields):
    """A register's form: trimmed, one-line strings free of control characters (the
    printing templates' rule: what is typed here is printed on slips), unknown fields
    refused. ``textarea`` fields may hold line breaks."""


def field(zh: str, en: str, *, input: str = "text", personal: bool = False, hint: str = "",
          choices: Mapping[str, str] | None = None, room: str | None = None, suggest: str = "", **kw: Any) -> Any:
    """A form field: its labels, how it is typed (``text``, ``textarea``, ``name``,
    ``phone``, ``room``, ``date``, ``datetime``, ``yuan``, ``checkbox``, ``select``,
    ``code``), whether it is the resident's personal data (masked in lists, erased by
    retention, kept apart in records for the centre), for a phone the room field it belongs
    with (how a resident's access request finds it), and what a new form suggests
    (``today``, ``now``, ``evening``: today at 18:00)."""
    extra = {"en": en, "input": input, "personal": personal, "hint": hint, "choices": dict(choices or {}), "room": room,
             "suggest": suggest}
    return Field(title=zh, json_schema_extra=extra, **kw)


# -- the checks the field types share ---------------------------------------------------------


def _now(info: ValidationInfo) -> datetime:
    return info.context["now"]


def _mobile(value: str) -> str:
    digits = re.sub(r"[\s-]", "", value)
    if not MOBILE.fullmatch(digits):
        raise Bad("请填写 11 位手机号", "an 11-digit mobile number")
    return digits


def _maybe_mobile(value: str) -> str:
    return _mobile(value) if value else ""


def _room(value: str) -> str:
    return re.sub(r"\s", "", value)


def _last4(value: str) -> str:
    value = value.upper()
    if not re.fullmatch(r"\d{3}[\dX]", value):
        raise Bad("只填证件号码的后 4 位", "the last 4 characters of the ID number only")
    return value


def _ticked(value: bool) -> bool:
    if not value:
        raise Bad("请确认后勾选", "tick it once done")
    return value


def _local(value: datetime, info: ValidationInfo) -> datetime:
    """A time typed on the console (no zone) is the hall's wall clock."""
    zone: tzinfo = _now(info).tzinfo  # type: ignore[assignment]
    return value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)


def _not_future(value: datetime, info: ValidationInfo) -> datetime:
    if value > _now(info):
        raise Bad("不能晚于现在", "cannot be in the future")
    return value


def _future(value: datetime, info: ValidationInfo) -> datetime:
    if value <= _now(info):
        raise Bad("须晚于现在", "must be later than now")
    return value


def _day_not_future(value: date, info: ValidationInfo) -> date:
    if value > _now(info).date():
        raise Bad("不能晚于今天", "cannot be after today")
    return value


def _day_not_past(value: date, info: ValidationInfo) -> date:
    if value < _now(info).date():
        raise Bad("不能早于今天", "cannot be before today")
    return value


Short = Annotated[str, StringConstraints(min_length=1, max_length=16)]
Line = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Long = Annotated[str, StringConstraints(min_length=1, max_length=500)]
MaybeShort = Annotated[str, StringConstraints(max_length=16)]
MaybeLine = Annotated[str, StringConstraints(max_length=64)]
MaybeLong = Annotated[str, StringConstraints(max_length=500)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=32)]
MaybeName = Annotated[str, StringConstraints(max_length=32)]
Phone = Annotated[str, StringConstraints(min_length=1, max_length=20), AfterValidator(_mobile)]
MaybePhone = Annotated[str, StringConstraints(max_length=20), AfterValidator(_maybe_mobile)]
Room = Annotated[str, StringConstraints(min_length=1, max_length=32), AfterValidator(_room)]
MaybeRoom = Annotated[str, StringConstraints(max_length=32), AfterValidator(_room)]
Last4 = Annotated[str, StringConstraints(min_length=1, max_length=4), AfterValidator(_last4)]
Ticked = Annotated[bool, AfterValidator(_ticked)]
Fen = Annotated[int, Field(ge=0, le=MAX_FEN)]
PastTime = Annotated[datetime, AfterValidator(_local), AfterValidator(_not_future)]
"""When something happened: not in the future."""
LaterTime = Annotated[datetime, AfterValidator(_local), AfterValidator(_future)]
"""When something is due: later than now."""
PastDay = Annotated[date, AfterValidator(_day_not_future)]
ComingDay = Annotated[date, AfterValidator(_day_not_past)]

ID_TYPES = {"id_card": "居民身份证 · ID card", "passport": "护照 · Passport", "permit": "港澳台通行证/居住证 · HK/Macao/Taiwan permit",
            "driver": "驾驶证 · Driving licence", "work_card": "工作证 · Staff card"}


# -- forms and refusals -----------------------------------------------------------------------


@dataclass(frozen=True)
class FormField:
    """One field as the console draws and reads it."""

    name: str
    zh: str
    en: str
    input: str
    required: bool
    personal: bool
    hint: str
    choices: dict[str, str]
    room: str | None
    suggest: str


def form_fields(model: type[EntryFields]) -> list[FormField]:
    out = []
    for name, info in model.model_fields.items():
        extra: dict[str, Any] = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        out.append(FormField(name, info.title or name, extra.get("en", name), extra.get("input", "text"),
                             info.is_required() and extra.get("input") != "checkbox", bool(extra.get("personal")),
                             extra.get("hint", ""), extra.get("choices") or {}, extra.get("room"),
                             extra.get("suggest", "")))
    return out


def yuan_to_fen(value: Any, f: FormField) -> Any:
    """A sum typed in yuan (``2000``, ``2000.5``) as integer fen; an int is fen already."""
    if not isinstance(value, str):
        return value
    text = value.strip().replace(",", "").replace("，", "").lstrip("¥￥")
    if not text:
        return 0
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal("NaN")
    if amount.is_nan():
        raise Refused(f"{f.zh}：请填写金额（元），如 2000 或 2000.50", f"{f.en}: an amount in yuan, e.g. 2000 or 2000.50",
                      f.name)
    fen = amount * 100
    if fen.is_infinite() or fen != fen.to_integral_value() or not 0 <= fen <= MAX_FEN:
        raise Refused(f"{f.zh}：金额应在 0 到 {MAX_FEN // 100} 元之间，最多两位小数",
                      f"{f.en}: from 0 to {MAX_FEN // 100} yuan, at most two decimals", f.name)
    return int(fen)


def from_form(model: type[EntryFields], form: Mapping[str, Any]) -> dict[str, Any]:
    """The model's fields out of a submitted form (or a dict a test passes): other keys
    (the CSRF token, the form's id) left out, an unticked checkbox False, yuan as fen."""
    data: dict[str, Any] = {}
    for f in form_fields(model):
        if f.input == "checkbox":
            data[f.name] = form.get(f.name) not in (None, "", False, "off")
        elif f.name in form:
            data[f.name] = yuan_to_fen(form[f.name], f) if f.input == "yuan" else form[f.name]
    return data


def checked(model: type[EntryFields], form: Mapping[str, Any], *, now: datetime,
            entry: Mapping[str, Any] | None = None) -> EntryFields:
    """``form`` checked against ``model`` at ``now`` (an aware time in the hall's zone);
    ``entry`` is the entry's own fields, for a step's rules that refer to them. The first
    problem is a :class:`Refused` naming the field in Chinese and English."""
    data = from_form(model, form)
    try:
        return model.model_validate(data, context={"now": now, "entry": dict(entry or {})})
    except ValidationError as exc:
        raise refusal(model, exc.errors()[0], data) from None


_SAYS = {
    "literal_error": ("请选择", "choose one"),
    "int_parsing": ("应为整数", "a whole number"),
    "int_type": ("应为整数", "a whole number"),
    "bool_parsing": ("请勾选或留空", "tick it or leave it"),
}


def refusal(model: type[EntryFields], err: Mapping[str, Any], data: Mapping[str, Any]) -> Refused:
    """One pydantic error as staff read it: ``房号：请填写 · Room: required``."""
    cause = (err.get("ctx") or {}).get("error")
    name = cause.field if isinstance(cause, Bad) and cause.field else str(err["loc"][0]) if err["loc"] else ""
    labels = {f.name: f for f in form_fields(model)}
    f = labels.get(name)
    zh, en = (f.zh, f.en) if f else ("表单", "Form")
    kind, ctx = err["type"], err.get("ctx") or {}
    if isinstance(cause, Bad):
        says = cause.zh, cause.en
    elif kind == "missing" or data.get(name) in ("", None) or kind == "string_too_short":
        says = ("请填写", "required") if not (f and f.input == "select") else ("请选择", "choose one")
    elif kind == "string_too_long":
        says = f"最多 {ctx.get('max_length')} 个字", f"at most {ctx.get('max_length')} characters"
    elif kind.startswith(("date", "datetime")):
        says = "日期或时间格式不对", "not a valid date or time"
    elif kind in ("greater_than_equal", "less_than_equal"):
        says = "超出范围", "out of range"
    elif kind == "value_error":  # the printing templates' rule: a control character
        says = "含有不能使用的字符", str(err.get("msg", "")).removeprefix("Value error, ")
    else:
        says = _SAYS.get(kind, ("填写有误", str(err.get("msg", "not valid"))))
    return Refused(f"{zh}：{says[0]}", f"{en}: {says[1]}", name)
