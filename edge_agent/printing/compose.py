"""From a template and its fields to the bytes of one print job, for one printer model.

Two ways to put Chinese on paper, chosen by the printer's profile:

* **text**: printers with a GB18030 font in ROM. python-escpos (its ``Dummy`` printer, which
  only collects bytes) sets alignment, bold and size, prints the QR natively, sends the logo
  and cuts; the text itself goes as GB18030 after ``FS &`` (Chinese character mode), because
  python-escpos's own text encoder knows no GB18030. A few KB a ticket, most of it the logo.
* **bitmap**: printers without a Chinese font. The whole printout is drawn with Noto Sans
  CJK SC at the printer's dot width and sent as raster image (``GS v 0``); 20-50 KB.

Both end with a feed and a full cut. A reprint carries 重打 REPRINT near the top, a test
print 测试打印 TEST PRINT. This module does no I/O beyond reading the logo and the font.

Example::

    data = compose(templates, "queue_ticket", fields, profiles["xprinter-xp58"],
                   hall_name="幸福里物业客户服务中心", job_no="000123")
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import segno
from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy
from PIL import Image, ImageDraw, ImageOps
from pydantic import BaseModel

from hall_common.cjk import font, wrap

from .profiles import PrinterProfile
from .templates import Block, Fields, PaymentItem, SheetSection, Templates, display_values, placeholders, yuan

FS_CHINESE_ON = b"\x1c\x26"
LINE_DOTS = 24
"""Height of font A (12×24 dots), the unit of ``size``."""
QR_BORDER = 3
"""Quiet zone of a QR code drawn as a picture, in modules."""
_SUBSTITUTES = {"¥": "￥", "\u00a0": " ", "\t": " "}
"""Characters a printer's GB font lacks, and what it prints instead: ``¥`` (U+00A5) has only
a four-byte GB18030 code, which GBK-era fonts print as garbage; the full-width ``￥`` is in
every Chinese printer font."""


def compose(templates: Templates, kind: str, fields: dict[str, Any] | BaseModel, profile: PrinterProfile, *,
            hall_name: str, job_no: str, reprint: bool = False, test: bool = False,
            now: datetime | None = None, timezone: str = "Asia/Shanghai") -> bytes:
    """The bytes of one complete job (initialise … feed, cut).

    ``fields`` are checked again against ``kind``'s schema even when given as a model, so a
    job stored by an older version cannot print something the schema no longer allows;
    a bad field is a ``ValueError`` naming it. ``now`` (default: the time in ``timezone``)
    is what ``{printed_at}`` shows.
    """
    model = templates.validate(kind, fields.model_dump() if isinstance(fields, BaseModel) else fields)
    now = now or datetime.now(ZoneInfo(timezone))
    values = {**display_values(kind, model), "hall_name": hall_name, "job_no": job_no,
              "printed_at": now.strftime("%Y-%m-%d %H:%M")}
    marks = _marks(reprint=reprint, test=test, columns_per_line=profile.chars_per_line)
    blocks = [b for b in marks + templates.blocks[kind] if _shown(b, model)]
    printer = Dummy(profile=profile.escpos_profile)
    # The capability profile's own width is the model's widest paper; images must fit this
    # paper. Set on the instance: the profile's data is shared by every printer of the class.
    data = printer.profile.profile_data
    printer.profile.profile_data = {**data, "media": {**data.get("media", {}), "width": {"pixels": profile.dots}}}
    printer.hw("INIT")
    if profile.mode == "text":
        _text_mode(printer, blocks, model, values, templates, profile)
    else:
        _bitmap_mode(printer, blocks, model, values, templates, profile)
    printer.cut()
    return printer.output


def _marks(*, reprint: bool, test: bool, columns_per_line: int) -> list[Block]:
    """The 重打 / 测试打印 banner between rules, double size where it fits on one line."""
    texts = (["重打 REPRINT"] if reprint else []) + (["测试打印 TEST PRINT"] if test else [])
    return [b for t in texts for b in (
        Block(rule=True),
        Block(text=t, size=2 if columns(t) * 2 <= columns_per_line else 1, bold=True, align="center"),
        Block(rule=True))]


def _fill(text: str, values: dict[str, str]) -> str:
    return text.format_map({name: values.get(name, "") for name in placeholders(text)})


def _texts(block: Block, values: dict[str, str]) -> list[str]:
    """The lines a ``text`` or ``lines`` block prints, before wrapping."""
    if block.text is not None:
        return [_fill(block.text, values)]
    return _fill(block.lines or "", values).splitlines() or [""]


def _shown(block: Block, model: Fields) -> bool:
    return block.when is None or bool(getattr(model, block.when, None))


def printable(text: str, encoding: str = "gb18030") -> str:
    """``text`` as a Chinese printer's font can print it: ASCII, and characters with a
    one- or two-byte code in ``encoding`` (plus CJK Extension A, which GB18030 fonts must
    carry); ``¥`` becomes ``￥``; control characters are dropped; anything else prints ``?``
    rather than bytes the printer would misread."""
    out = []
    for ch in text:
        ch = _SUBSTITUTES.get(ch, ch)
        if unicodedata.category(ch) == "Cc":
            continue
        if ch < "\x80":
            out.append(ch)
            continue
        try:
            code = ch.encode(encoding)
        except UnicodeEncodeError:
            code = b""
        out.append(ch if 0 < len(code) <= 2 or "\u3400" <= ch <= "\u4dbf" else "?")
    return "".join(out)


def columns(text: str) -> int:
    """Printed width in font-A columns. In Chinese character mode every non-ASCII character
    is a double-byte code printed full width (24 dots): even those ``east_asian_width``
    calls narrow or ambiguous, such as ``·`` and ``—``."""
    return sum(1 if ch < "\x80" else 2 for ch in text)


def wrap_columns(text: str, width: int) -> list[str]:
    """Break ``text`` so no line is wider than ``width`` columns, character by character
    (Chinese has no spaces to break at)."""
    lines, current, used = [], "", 0
    for ch in text:
        w = columns(ch)
        if current and used + w > width:
            lines.append(current)
            current, used = "", 0
        current += ch
        used += w
    return lines + [current]


def wrap_words(text: str, width: int) -> list[str]:
    """Like :func:`wrap_columns`, but a run of ASCII letters, digits and signs (a time, an
    amount, a tracking number's group) moves to the next line whole when it would be cut
    and fits on a line: "15:40" is not printed as "15:4" and "0". Nothing is dropped."""
    lines, current, used = [], "", 0
    for token in re.findall(r"[!-~]+|.", text, flags=re.S):
        w = columns(token)
        if w > width:  # longer than a line: by character
            for part in wrap_columns(token, width):
                if current and used + columns(part) > width:
                    lines.append(current)
                    current, used = "", 0
                current, used = current + part, used + columns(part)
            continue
        if current and used + w > width:
            lines.append(current)
            current, used = "", 0
        current, used = current + token, used + w
    return lines + [current]


def item_rows(item: PaymentItem, amount: str, width: int, measure: Callable[[str], float],
              breaks: Callable[[str, int], list[str]], gap: float) -> list[tuple[str, str]]:
    """One row of the items table as (left, right) lines: ``name period ... amount`` when it
    fits; otherwise the name on its own line(s) and the period beside the amount, so a
    long line breaks between words a resident reads apart. Nothing is cut off."""
    whole = f"{item.name} {item.period}".strip()
    if measure(whole) + gap + measure(amount) <= width:
        return [(whole, amount)]

    def beside_amount(text: str) -> list[tuple[str, str]]:
        parts = breaks(text, width)
        if measure(parts[-1]) + gap + measure(amount) <= width:
            return [(p, "") for p in parts[:-1]] + [(parts[-1], amount)]
        return [(p, "") for p in parts] + [("", amount)]

    if not item.period:
        return beside_amount(item.name)
    return [(p, "") for p in breaks(item.name, width)] + beside_amount(item.period)


def section_lines(block: Block, sections: list[SheetSection]) -> list[tuple[str, Block]]:
    """A ``sections`` block as lines to print, each with its style: every section's title in
    bold (【title】), then each of its lines after a bullet, or what it says when empty."""
    head, body = block.model_copy(update={"bold": True}), block
    out: list[tuple[str, Block]] = []
    for section in sections:
        out.append((f"【{section.title}】", head))
        out.extend((f"· {line}", body) for line in section.lines)
        if not section.lines:
            out.append((f"  {section.empty}", body))
    return out


def unbroken_size(size: int, lines_at: Callable[[int], list[str]]) -> int:
    """The template's size, or the largest smaller one at which wrapping breaks no number or
    word (``lines_at(k)`` wraps the text for size ``k``). Chinese may break between any two
    characters, so a long headline keeps its size and wraps; a total, a tracking number or
    a URL broken across two lines would be misread, so it is printed smaller instead."""
    for k in range(size, 1, -1):
        lines = lines_at(k)
        if not any(_word_char(a[-1:]) and _word_char(b[:1]) for a, b in zip(lines, lines[1:])):
            return k
    return 1


def _word_char(ch: str) -> bool:
    return ch.isascii() and bool(ch.strip())


def _qr_module(data: str, wanted: int, dots: int) -> int:
    """The template's module size, made smaller if the code would not fit the paper (a
    printer silently skips a QR code wider than its print area)."""
    modules = segno.make(data, error="m", micro=False).symbol_size(scale=1, border=QR_BORDER)[0]
    return max(1, min(wanted, dots // modules))


# -- text mode -------------------------------------------------------------------------------


def _text_mode(p: Dummy, blocks: list[Block], model: Fields, values: dict[str, str], templates: Templates,
               profile: PrinterProfile) -> None:
    p._raw(FS_CHINESE_ON)
    cols = profile.chars_per_line

    def style(block: Block, size: int) -> None:
        p.set(align=block.align, bold=block.bold, custom_size=size > 1, width=size, height=size,
              normal_textsize=size == 1)

    def send(line: str) -> None:
        p._raw(line.encode(profile.encoding) + b"\n")

    for block in blocks:
        kind = block.kind
        if kind in ("text", "lines"):
            for t in _texts(block, values):
                t = printable(t, profile.encoding)
                size = unbroken_size(block.scale, lambda k: wrap_columns(t, cols // k))
                style(block, size)
                for chunk in wrap_columns(t, cols // size):
                    send(chunk)
        elif kind == "items":
            style(block, block.scale)
            width = cols // block.scale
            for item in getattr(model, block.items or ""):
                item = item.model_copy(update={"name": printable(item.name, profile.encoding),
                                               "period": printable(item.period, profile.encoding)})
                amount = printable(yuan(item.amount_fen), profile.encoding)
                for left, right in item_rows(item, amount, width, columns, wrap_columns, gap=1):
                    send(left + " " * (width - columns(left) - columns(right)) + right if right else left)
        elif kind == "sections":
            for t, line_block in section_lines(block, getattr(model, block.sections or "")):
                style(line_block, line_block.scale)
                for chunk in wrap_words(printable(t, profile.encoding), cols // line_block.scale):
                    send(chunk)
        elif kind == "rule":
            p.set(align="left", bold=False, normal_textsize=True)
            send("-" * cols)
        elif kind == "feed":
            p.set(normal_textsize=True)
            p.print_and_feed(block.feed or 1)
        elif kind == "qr":
            data = _fill(block.qr or "", values)
            module = _qr_module(data, block.scale, profile.dots)
            p.set(align="center", bold=False, normal_textsize=True)
            if profile.native_qr:
                # python-escpos cannot centre a native code (NotImplementedError): ESC a 1 does.
                p.qr(data, ec=QR_ECLEVEL_M, size=module, native=True)
                p._raw(b"\n")
            else:
                p.image(_qr_image(data, module), impl="bitImageRaster", center=True)
        elif kind == "logo":
            p.set(align="center", bold=False, normal_textsize=True)
            p.image(_fit(_logo(templates.logo(block.logo or "")), profile.dots), impl="bitImageRaster", center=True)
    p.set(align="left", bold=False, normal_textsize=True)


# -- bitmap mode -----------------------------------------------------------------------------


def _bitmap_mode(p: Dummy, blocks: list[Block], model: Fields, values: dict[str, str], templates: Templates,
                 profile: PrinterProfile) -> None:
    width = profile.dots
    pieces: list[Image.Image] = []

    def row(left: str, block: Block, right: str = "") -> None:
        """One line of type: ``LINE_DOTS × size`` high plus room for descenders, drawn on
        its baseline so Chinese and Latin sit alike."""
        px = LINE_DOTS * block.scale
        face = font(px, bold=block.bold)
        strip = Image.new("1", (width, round(px * 1.3)), 1)
        draw = ImageDraw.Draw(strip)
        w = face.getlength(left)
        x = {"left": 0, "center": (width - w) / 2, "right": width - w}[block.align]
        draw.text((max(0, x), px), left, font=face, fill=0, anchor="ls")
        if right:
            draw.text((width, px), right, font=face, fill=0, anchor="rs")
        pieces.append(strip)

    for block in blocks:
        kind = block.kind
        if kind in ("text", "lines"):
            for t in _texts(block, values):
                size = unbroken_size(block.scale, lambda k: wrap(t, font(LINE_DOTS * k, bold=block.bold), width))
                line_block = block.model_copy(update={"size": size})
                for chunk in wrap(t, font(LINE_DOTS * size, bold=block.bold), width):
                    row(chunk, line_block)
        elif kind == "items":
            face = font(LINE_DOTS * block.scale, bold=block.bold)
            left_block = block.model_copy(update={"align": "left"})
            for item in getattr(model, block.items or ""):
                for left, right in item_rows(item, yuan(item.amount_fen), width, face.getlength,
                                             lambda text, w: wrap(text, face, w), gap=LINE_DOTS // 2):
                    row(left, left_block, right)
        elif kind == "sections":
            for t, line_block in section_lines(block, getattr(model, block.sections or "")):
                for chunk in wrap(t, font(LINE_DOTS * line_block.scale, bold=line_block.bold), width):
                    row(chunk, line_block)
        elif kind == "rule":
            strip = Image.new("1", (width, LINE_DOTS), 1)
            ImageDraw.Draw(strip).line([(0, LINE_DOTS // 2), (width, LINE_DOTS // 2)], fill=0, width=2)
            pieces.append(strip)
        elif kind == "feed":
            pieces.append(Image.new("1", (width, LINE_DOTS * (block.feed or 1)), 1))
        elif kind == "qr":
            data = _fill(block.qr or "", values)
            pieces.append(_centred(_qr_image(data, _qr_module(data, block.scale, width)), width))
        elif kind == "logo":
            pieces.append(_centred(_logo(templates.logo(block.logo or "")), width))
    paper = Image.new("1", (width, sum(x.height for x in pieces) or 1), 1)
    y = 0
    for piece in pieces:
        paper.paste(piece, (0, y))
        y += piece.height
    p.image(paper, impl="bitImageRaster", fragment_height=1024)


# -- pictures --------------------------------------------------------------------------------


def _qr_image(data: str, module: int) -> Image.Image:
    buf = io.BytesIO()
    segno.make(data, error="m", micro=False).save(buf, kind="png", scale=module, border=QR_BORDER)
    buf.seek(0)
    with Image.open(buf) as img:
        return img.convert("1")


@lru_cache(maxsize=8)
def _logo_cached(path: Path, mtime: float) -> Image.Image:
    with Image.open(path) as img:
        return ImageOps.grayscale(img).point(lambda v: 0 if v < 128 else 255).convert("1")


def _logo(path: Path) -> Image.Image:
    """The logo as 1-bit, read once per file version (a hall may replace it while running)."""
    return _logo_cached(path, path.stat().st_mtime)


def _fit(img: Image.Image, width: int) -> Image.Image:
    """``img`` scaled down to the paper if it is wider (a hall's own logo may be): a raster
    wider than the print area is refused by python-escpos and garbled by printers. QR codes
    are made to fit by their module size instead, so they stay sharp."""
    if img.width > width:
        img = img.resize((width, max(1, img.height * width // img.width)))
    return img


def _centred(img: Image.Image, width: int) -> Image.Image:
    """``img`` on a strip as wide as the paper, in the middle."""
    img = _fit(img, width)
    strip = Image.new("1", (width, img.height), 1)
    strip.paste(img, ((width - img.width) // 2, 0))
    return strip
