"""Ticket and receipt templates as data: what each printout says, in which order and size.

The templates live in a TOML file (``firmware_configs/printers/templates.toml`` by default,
or a hall's own file named in ``[printing] templates_file``), one array of blocks per kind::

    [[queue_ticket]]
    text = "{hall_name}"
    size = 2
    bold = true
    align = "center"

    [[queue_ticket]]
    qr = "{follow_url}"
    size = 6

Block types (one per block): ``text`` (a line with ``{placeholders}``), ``qr`` (the data of
a QR code), ``logo`` (a PNG next to the templates file), ``rule`` (a line across),
``items`` (a table of amounts: ``items = "items"``), ``sections`` (headed lists such as the
handover sheet's: ``sections = "sections"``), ``lines`` (multi-line text such as a
disclosure's body), ``feed`` (blank lines). Options: ``size`` (characters: magnification
1..8; a QR code: dots per module 1..16, default 6), ``bold``, ``align``, and
``when = "field"`` to print a block only when that field is set (e.g. ``priority``).

A placeholder must be a field of the template's kind (or ``hall_name``, ``printed_at``,
``job_no``), checked when the file is loaded, so a typo stops the agent at start instead
of printing a ticket with a hole in it. The fields a requester sends are checked against
the kind's schema below before the job is stored.
"""

from __future__ import annotations

import string
import tomllib
import unicodedata
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from hall_common.errors import ConfigError

from .profiles import PRINTERS_DIR

DEFAULT_TEMPLATES = PRINTERS_DIR / "templates.toml"
COMMON = ("hall_name", "printed_at", "job_no")
"""Fields every template may use; the composer fills them."""


class Fields(BaseModel):
    """Base of every kind's fields: unknown fields refused, strings trimmed and free of
    control characters (in text mode an ESC or GS inside a field would reach the printer as a
    command)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    multiline: ClassVar[frozenset[str]] = frozenset()
    """Fields that may hold line breaks (a disclosure's body)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            allowed = "\n\r\t" if info.field_name in cls.multiline else ""
            if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
                raise ValueError("control characters are not allowed" +
                                 (" (line breaks are)" if allowed else " (one line of text)"))
        return value


class QueueTicket(Fields):
    number: str = Field(min_length=1, max_length=16)
    service: str = Field(min_length=1, max_length=32)
    waiting_ahead: int = Field(ge=0, le=9999)
    follow_url: str = Field(min_length=1, max_length=300)
    hours_line: str = Field("", max_length=60)
    priority: bool = False


class ComplaintReceipt(Fields):
    tracking_no: str = Field(min_length=1, max_length=24)
    kind: str = Field(min_length=1, max_length=16)
    category: str = Field(min_length=1, max_length=32)
    deadline: str = Field(min_length=1, max_length=60)
    track_url: str = Field(min_length=1, max_length=300)


class PaymentItem(Fields):
    name: str = Field(min_length=1, max_length=32)
    period: str = Field("", max_length=32)
    amount_fen: int = Field(ge=0, le=100_000_000)


class PaymentReceipt(Fields):
    room: str = Field(min_length=1, max_length=32)
    items: list[PaymentItem] = Field(min_length=1, max_length=50)
    total_fen: int = Field(ge=0, le=5_000_000_000)
    reference: str = Field(min_length=1, max_length=64)
    paid_at: str = Field(min_length=1, max_length=32)
    refund_note: str | None = Field(None, max_length=80)
    """Paid twice (both wallets): the second payment is being given back (Chinese)."""
    refund_note_en: str | None = Field(None, max_length=80)

    @model_validator(mode="after")
    def _total_is_the_sum(self) -> "PaymentReceipt":
        if self.total_fen != sum(i.amount_fen for i in self.items):
            raise ValueError("total_fen is not the sum of the items' amount_fen")
        return self


class RefundSlip(Fields):
    """A refund's slip for the resident (edge_agent/refund_slips.py): which payment, how much
    goes back to which wallet, why, the lines owed again, and where it stands."""

    room: str = Field(min_length=1, max_length=32)
    wallet: str = Field(min_length=1, max_length=32)
    reference: str = Field(min_length=1, max_length=64)
    refund_no: str = Field(min_length=1, max_length=64)
    paid_fen: int = Field(ge=0, le=5_000_000_000)
    refund_fen: int = Field(ge=1, le=5_000_000_000)
    reason: str = Field(min_length=1, max_length=80)
    status: str = Field(min_length=1, max_length=40)
    status_en: str = Field(min_length=1, max_length=60)
    asked_at: str = Field(min_length=1, max_length=32)
    items: list[PaymentItem] = Field(default_factory=list, max_length=50)
    """The bill lines the refund gives back (owed again once it is confirmed)."""
    reopened: str | None = Field(None, max_length=80)
    """Said when lines are given back: they are to be paid again."""


class Disclosure(Fields):
    multiline = frozenset({"body"})

    title: str = Field(min_length=1, max_length=60)
    category: str = Field(min_length=1, max_length=32)
    effective_date: str = Field(min_length=1, max_length=20)
    version: int = Field(ge=1)
    body: str = Field(min_length=1, max_length=4000)


class SheetSection(Fields):
    """One headed list of a sheet: its title, its lines (each one item, wrapped on paper), and
    what to print when it has none ("无", or why the list is missing)."""

    title: str = Field(min_length=1, max_length=40)
    lines: list[str] = Field(default_factory=list, max_length=101)
    empty: str = Field("无", min_length=1, max_length=40)

    @field_validator("lines")
    @classmethod
    def _one_line_each(cls, value: list[str]) -> list[str]:
        for line in value:
            if len(line) > 300:
                raise ValueError("a line may be at most 300 characters")
            if any(unicodedata.category(c) == "Cc" for c in line):
                raise ValueError("control characters are not allowed (one line of text)")
        return [line.strip() for line in value]


class HandoverSheet(Fields):
    """The shift handover sheet (交接班记录, edge_agent/handover.py): who was on, from when to
    when, the open items of every kind, the takings and the notes, and who received it."""

    multiline = frozenset({"notes"})

    label: str = Field(min_length=1, max_length=16)
    staff: str = Field(min_length=1, max_length=200)
    opened_at: str = Field(min_length=1, max_length=32)
    closed_at: str = Field(min_length=1, max_length=32)
    closed_by: str = Field(min_length=1, max_length=64)
    sections: list[SheetSection] = Field(min_length=1, max_length=12)
    takings: list[PaymentItem] = Field(min_length=1, max_length=8)
    difference: str = Field(min_length=1, max_length=40)
    notes: str = Field("", max_length=1000)
    received: str = Field(min_length=1, max_length=80)


class RegisterSlip(Fields):
    """A front-desk register's slip (edge_agent/registers/): a parcel's label with its pickup
    code, a key's borrowing note, a goods release, a renovation permit, a found item's tag."""

    multiline = frozenset({"body", "footer"})

    title: str = Field(min_length=1, max_length=24)
    serial: str = Field(min_length=1, max_length=24)
    body: str = Field(min_length=1, max_length=2000)
    code: str = Field("", max_length=16, pattern=r"^[0-9A-Z]*$")
    code_label: str = Field("", max_length=16)
    footer: str = Field("", max_length=300)


KINDS: dict[str, type[Fields]] = {
    "queue_ticket": QueueTicket,
    "complaint_receipt": ComplaintReceipt,
    "payment_receipt": PaymentReceipt,
    "disclosure": Disclosure,
    "handover_sheet": HandoverSheet,
    "register_slip": RegisterSlip,
    "refund_slip": RefundSlip,
}
STAFF_ONLY = frozenset({"handover_sheet", "refund_slip"})
"""Kinds only the staff console prints (the edge itself is the requester): a kiosk's
``print`` request for one is refused, so no kiosk login can put a forged handover on paper."""
LIST_BLOCKS: dict[str, type[Fields]] = {"items": PaymentItem, "sections": SheetSection}
"""Block types that print a list field, and the model of the list's entries."""


def yuan(fen: int) -> str:
    """Money as printed: integer fen → ``¥1,234.50``."""
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def display_values(kind: str, fields: Fields) -> dict[str, str]:
    """The placeholder values of ``fields``: plain strings, money in yuan."""
    out = {k: v for k, v in fields.model_dump().items() if not isinstance(v, (list, dict))}
    out = {k: ("" if v is None else str(v)) for k, v in out.items()}
    if isinstance(fields, PaymentReceipt):
        out["total"] = yuan(fields.total_fen)
    if isinstance(fields, RefundSlip):
        out["paid"], out["refund"] = yuan(fields.paid_fen), yuan(fields.refund_fen)
    return out


_DERIVED = {"payment_receipt": ("total",), "refund_slip": ("paid", "refund")}
BLOCK_KINDS = ("text", "qr", "logo", "rule", "items", "sections", "lines", "feed")
_NAME = string.ascii_lowercase + "_"


class Block(BaseModel):
    """One line, code or picture of a printout."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str | None = Field(None, max_length=200)
    qr: str | None = Field(None, max_length=200)
    logo: str | None = Field(None, max_length=100)
    rule: bool | None = None
    items: str | None = None
    sections: str | None = None
    lines: str | None = Field(None, max_length=200)
    feed: int | None = Field(None, ge=1, le=10)
    size: int | None = Field(None, ge=1, le=16,
                             description="text: magnification 1..8 (default 1); qr: dots per module 1..16 (default 6)")
    bold: bool = False
    align: Literal["left", "center", "right"] = "left"
    when: str | None = None

    @property
    def kind(self) -> str:
        return next(k for k in BLOCK_KINDS if getattr(self, k) is not None)

    @property
    def scale(self) -> int:
        """Character magnification, or a QR code's dots per module when the block is a QR."""
        return self.size or (6 if self.qr is not None else 1)

    @model_validator(mode="after")
    def _one_kind(self) -> "Block":
        given = [k for k in BLOCK_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a block is exactly one of {', '.join(BLOCK_KINDS)} (got {given or 'none'})")
        return self


class Templates:
    """The loaded templates: ``blocks[kind]`` in order, and the logo files they name."""

    def __init__(self, blocks: dict[str, list[Block]], base_dir: Path) -> None:
        self.blocks, self.base_dir = blocks, base_dir

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self.blocks)

    def validate(self, kind: str, fields: dict[str, Any]) -> Fields:
        """The requester's fields for ``kind``, checked; ValueError names the bad field."""
        if kind not in KINDS:
            raise ValueError(f"template: unknown template {kind!r} (known: {', '.join(sorted(KINDS))})")
        try:
            return KINDS[kind].model_validate(fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"]) or "fields"
            raise ValueError(f"fields.{where}: {err['msg'].removeprefix('Value error, ')}") from None

    def logo(self, name: str) -> Path:
        return self.base_dir / name


def _entries(model: type[Fields], name: str) -> Any:
    """The model of the entries of ``model``'s list field ``name``."""
    args = getattr(model.model_fields[name].annotation, "__args__", ())
    return args[0] if args else None


def placeholders(text: str) -> list[str]:
    """The ``{names}`` in ``text``; anything but a plain lowercase name is refused."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not name or any(c not in _NAME for c in name) or spec or conversion:
            raise ValueError(f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} "
                             "is not a plain {field} placeholder")
        names.append(name)
    return names


def load_templates(path: Path | None = None) -> Templates:
    """Read and check a templates file; a problem is a :class:`ConfigError` naming the file,
    the template and the key."""
    path = path or DEFAULT_TEMPLATES
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(KINDS))
    if unknown:
        raise ConfigError(f"{path.name}: {unknown[0]}: no such template (known: {', '.join(sorted(KINDS))})")
    blocks: dict[str, list[Block]] = {}
    for kind, model in KINDS.items():
        if kind not in data:
            raise ConfigError(f"{path.name}: {kind}: the template is missing")
        allowed = set(COMMON) | set(model.model_fields) | set(_DERIVED.get(kind, ()))
        lists = {name for name, f in model.model_fields.items() if getattr(f.annotation, "__origin__", None) is list}
        if not isinstance(data[kind], list) or not data[kind]:
            raise ConfigError(f"{path.name}: {kind}: write the template as blocks, each starting with [[{kind}]]")
        blocks[kind] = []
        for i, raw in enumerate(data[kind]):
            where = f"{path.name}: {kind}.{i}"
            try:
                block = Block.model_validate(raw)
            except ValidationError as exc:
                err = exc.errors()[0]
                key = ".".join(str(x) for x in err["loc"])
                raise ConfigError(f"{where}{'.' + key if key else ''}: {err['msg'].removeprefix('Value error, ')}") from None
            if block.qr is None and block.size is not None and block.size > 8:
                raise ConfigError(f"{where}.size: characters can be magnified 1 to 8 times (got {block.size})")
            try:
                names = placeholders(block.text or block.qr or block.lines or "")
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            for name in names + ([block.when] if block.when else []):
                if name not in allowed or name in lists:
                    raise ConfigError(f"{where}: {{{name}}} is not a field of {kind} "
                                      f"(fields: {', '.join(sorted(allowed - lists))})")
            for key, entry in LIST_BLOCKS.items():
                named = getattr(block, key)
                if named is not None and (named not in lists or _entries(model, named) is not entry):
                    raise ConfigError(f"{where}.{key}: {kind} has no list of {key} named {named!r}")
            if block.logo is not None and not (path.parent / block.logo).is_file():
                raise ConfigError(f"{where}.logo: no file {block.logo} next to {path.name}")
            blocks[kind].append(block)
    return Templates(blocks, path.parent)
