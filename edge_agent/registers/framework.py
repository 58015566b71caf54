"""What every register is: an entry opened with a form, steps taken on it (each its own
form), one of which closes it; its number, its one line for lists and the handover sheet,
its slip, and the reminder it may need. A register is a small declaration of these
(:class:`Register`, :class:`Step`); :class:`~edge_agent.registers.service.Registers` does the
rest for all of them alike: storage, records for the centre, refusals, the console.

An entry as the component hands it out is a dict: the row of ``register_entries`` with
``fields`` (the opening form's values, personal ones included) and, where read with them,
``steps`` (each with its ``fields``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from hall_common.privacy import mask_name, mask_phone

from ..printing.templates import yuan
from .fields import EntryFields, FormField, form_fields


@dataclass(frozen=True)
class Step:
    """Something done to an open entry: ``zh``/``en`` on its button, ``done_zh``/``done_en``
    what the entry then is (已归还 · returned). A step that ``closes`` is taken once: the
    second is refused, saying when the first was."""

    name: str
    zh: str
    en: str
    model: type[EntryFields]
    closes: bool = False
    done_zh: str = ""
    done_en: str = ""


@dataclass(frozen=True)
class Slip:
    """A slip's text, for the ``register_slip`` print template (masked where personal)."""

    title: str
    body: list[str]
    code: str = ""
    code_label: str = ""
    footer: str = ""


class Register:
    """One register, declared by a subclass: its names, its number prefix, its opening form
    (``model``), its steps, and where it differs from the others, the hooks below."""

    name: ClassVar[str]
    zh: ClassVar[str]
    en: ClassVar[str]
    prefix: ClassVar[str]
    """Two letters before an entry's number: ``YS260315001``."""
    open_zh: ClassVar[str] = "进行中"
    open_en: ClassVar[str] = "open"
    model: ClassVar[type[EntryFields]]
    steps: ClassVar[tuple[Step, ...]]
    photo: ClassVar[bool] = False
    """Whether an entry may carry a photo (a found item)."""
    coded: ClassVar[bool] = False
    """Whether an entry gets a pickup code (a parcel)."""

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def fields(self) -> list[FormField]:
        return form_fields(self.model)

    def personal(self, model: type[EntryFields]) -> frozenset[str]:
        return frozenset(f.name for f in form_fields(model) if f.personal)

    # -- hooks (the defaults fit most registers) ---------------------------------------------

    def room(self, values: dict[str, Any]) -> str:
        """The room the entry is about, for search and for the list."""
        return str(values.get("room", ""))

    def due(self, values: dict[str, Any], zone: ZoneInfo) -> float | None:
        """When the entry is due (a key back, a renovation's end), as Unix seconds."""
        return None

    def line(self, entry: dict[str, Any], zone: ZoneInfo) -> str:
        """The entry in one Chinese line, names and phones masked (lists, the handover)."""
        raise NotImplementedError

    def slip(self, entry: dict[str, Any], zone: ZoneInfo) -> Slip | None:
        """What its printed slip says, or None where no paper is used."""
        return None

    def reminder(self, entry: dict[str, Any], now: float, zone: ZoneInfo) -> tuple[str, str] | None:
        """(severity, text) of the alarm an open entry needs at ``now``, or None."""
        return None


# -- shown on lists, slips and the handover sheet: masked --------------------------------------


def masked(f: FormField, value: Any) -> str:
    """A field's value as lists and slips show it: names and phones masked, an ID's last
    characters behind stars."""
    if value in (None, ""):
        return ""
    if f.input == "name":
        return mask_name(str(value))
    if f.input == "phone":
        return mask_phone(str(value))
    if f.name.endswith("last4"):
        return f"****{value}"
    return shown(f, value)


def shown(f: FormField, value: Any) -> str:
    """A field's value in full, as the entry's own page shows it to a role that may see it."""
    if value in (None, ""):
        return "—" if f.input != "checkbox" else "否 · no"
    if f.input == "checkbox":
        return "是 · yes" if value else "否 · no"
    if f.input == "yuan":
        return yuan(int(value))
    if f.input == "select":
        return f.choices.get(str(value), str(value))
    if f.input == "datetime":
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M")
    return str(value)


def who(values: dict[str, Any], name: str, phone: str | None = None) -> str:
    """A person in a line: 张* 138****5678."""
    parts = [mask_name(str(values.get(name, "")))]
    if phone and values.get(phone):
        parts.append(mask_phone(str(values[phone])))
    return " ".join(p for p in parts if p)


def when(ts: float | None, zone: ZoneInfo, fmt: str = "%m-%d %H:%M") -> str:
    return "—" if ts is None else datetime.fromtimestamp(ts, zone).strftime(fmt)


def end_of(day: str | date, zone: ZoneInfo) -> float:
    """The last moment of ``day`` in the hall's zone: a renovation ending on the 30th may
    work all that day."""
    d = date.fromisoformat(day) if isinstance(day, str) else day
    return datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=zone).timestamp()
