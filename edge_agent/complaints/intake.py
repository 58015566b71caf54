"""A request staff take at the console (来电, 来访, 微信, 短信): the form's fields read into the
``complaint`` method's arguments, and what to tell staff about each field that cannot be
taken, in Chinese and English, all at once (the bus names only the first).

The checks are the edge's own: the fields against :class:`ComplaintArgs`, 发生时间 with
:func:`hall_common.occurred.check`. :meth:`ComplaintService.take` checks everything again
when the request is stored; this only says it in words staff can act on.

Example::

    args, errors = read_form(request.form, categories=service.categories, now=service.clock(),
                             opened=service.config.opened, zone=service.zone)
    if not errors:
        receipt = service.take(args, channel=request.form["channel"], who=g.user)
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from hall_common import occurred
from hall_common.bus.payloads import ROOM_PATTERN, ComplaintArgs
from hall_common.channels import STAFF_CHANNELS

FIELDS = ("request", "channel", "kind", "category", "place", "occurred_at", "content", "wanted", "name", "room",
          "phone", "rooms", "printer")
"""What the form posts (``printer``: where to print the receipt, or nothing)."""
MESSAGES = {
    "channel": "请选择受理渠道 · Choose how the request came in",
    "kind": "请选择类型 · Choose the kind of request",
    "category": "请选择类别 · Choose what it is about",
    "place": "请填写地点，最多 60 字 · Enter the place, at most 60 characters",
    "content": "请填写内容，2 至 500 字 · Describe it in 2 to 500 characters",
    "wanted": "诉求最多 200 字 · The outcome wanted is at most 200 characters",
    "name": "请填写业主姓名，最多 20 字 · Enter the resident's name, at most 20 characters",
    "room": "房号请按“楼-单元-房号”填写，如 3-2-1201 · Enter the room as building-unit-room, e.g. 3-2-1201",
    "phone": "请填写 11 位手机号，或带区号的固定电话 · Enter an 11-digit mobile or a landline with its area code",
    "rooms": "其他房号同样按“楼-单元-房号”，用空格或逗号分开 · Other rooms as building-unit-room, "
             "separated by spaces or commas",
    "request": "表单已过期，请重新填写 · The form has expired; please fill it in again",
    "printer": "请选择打印机 · Choose a printer",
}
_ROOM = re.compile(ROOM_PATTERN)


def occurred_message(exc: occurred.OccurredError) -> str:
    return f"发生时间：{exc.text(occurred.ZH)} · When it happened: {exc.text(occurred.EN)}"


def read_form(form: Mapping[str, str], *, categories: Mapping[str, Any], now: float, opened: date,
              zone: ZoneInfo) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``complaint`` arguments the form gives, and a message per field that is wrong
    (none when it can be filed)."""
    text = {k: str(form.get(k, "")) for k in FIELDS}
    args: dict[str, Any] = {k: text[k].strip() for k in ("request", "kind", "category", "place", "content", "wanted",
                                                          "name")}
    args.update(room="".join(text["room"].split()), phone="".join(text["phone"].split()),
                rooms=[r for r in re.split(r"[\s,，、;；]+", text["rooms"]) if r])
    errors: dict[str, str] = {}
    if text["channel"] not in STAFF_CHANNELS:
        errors["channel"] = MESSAGES["channel"]
    try:
        when = occurred.from_local(text["occurred_at"], zone)
        args["occurred_at"] = occurred.check(when, now=now, opened=opened, zone=zone)
    except occurred.OccurredError as exc:
        errors["occurred_at"] = occurred_message(exc)
    try:
        ComplaintArgs.model_validate({"occurred_at": 1.0, **args})  # a stand-in time: the others still checked
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            errors.setdefault(name, MESSAGES.get(name, f"{name}: {err['msg']}"))
    if args["category"] not in categories:
        errors.setdefault("category", MESSAGES["category"])
    if not all(_ROOM.fullmatch(r) for r in args["rooms"]):
        errors.setdefault("rooms", MESSAGES["rooms"])
    return args, errors
