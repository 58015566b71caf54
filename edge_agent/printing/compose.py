"""From a template and its fields to the bytes of one print job, for one printer model.

Two ways to put Chinese on paper, chosen by the printer's profile:

* **text**: printers with a GB18030 font in ROM. python-escpos (its ``Dummy`` printer, which
  only collects bytes) sets alignment, bold and size, prints the QR natively and cuts; the
  text itself goes as GB18030 after ``FS &`` (Chinese character mode), because
  python-escpos's own text encoder knows no GB18030. About 0.6 KB a ticket.
* **bitmap**: printers without a Chinese font. The whole printout is drawn with Noto Sans
  CJK SC at the printer's dot width and sent as raster image (``GS v 0``); 20-40 KB.

Both end with a feed and a full cut. A reprint carries 重打 REPRINT near the top, a test
print 测试打印 TEST PRINT. This module does no I/O beyond reading the logo and the font.

Example::

    data = compose(templates, "queue_ticket", fields, profiles["xprinter-xp58"],
                   hall_name="幸福里物业客户服务中心", job_no="000123")
"""

from __future__ import annotations

import io
import unicodedata
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import segno
from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy
from PIL import Image, ImageDraw, ImageOps

from hall_common.cjk import font, wrap

from .profiles import PrinterProfile
from .templates import Block, Fields, Templates, display_values, placeholders, yuan

FS_CHINESE_ON = b"\x1c\x26"
LINE_DOTS = 24
"""Height of font A (12×24 dots), the unit of ``size``."""


def compose(templates: Templates, kind: str, fields: dict[str, Any] | Fields, profile: PrinterProfile, *,
            hall_name: str, job_no: str, reprint: bool = False, test: bool = False,
            now: datetime | None = None, timezone: str = "Asia/Shanghai") -> bytes:
    """The bytes of one complete job (initialise … cut)."""
    model = fields if isinstance(fields, Fields) else templates.validate(kind, fields)
    now = now or datetime.now(ZoneInfo(timezone))
    values = {**display_values(kind, model), "hall_name": hall_name, "job_no": job_no,
              "printed_at": now.strftime("%Y-%m-%d %H:%M")}
    blocks = [b for b in _marked(templates.blocks[kind], reprint=reprint, test=test) if _shown(b, model)]
    printer = Dummy(profile=profile.escpos_profile)
    printer.hw("INIT")
    if profile.mode == "text":
        _text_mode(printer, blocks, model, values, templates, profile)
    else:
        _bitmap_mode(printer, blocks, model, values, templates, profile)
    printer.cut()
    return printer.output


def _marked(blocks: list[Block], *, reprint: bool, test: bool) -> list[Block]:
    marks = []
    if reprint:
        marks.append("重打 REPRINT")
    if test:
        marks.append("测试打印 TEST PRINT")
    banner = [b for m in marks for b in (Block(rule=True), Block(text=m, size=2, bold=True, align="center"),
                                         Block(rule=True))]
    return banner + list(blocks)


def _fill(text: str, values: dict[str, str]) -> str:
    return text.format_map({name: values.get(name, "") for name in placeholders(text)})


def _texts(block: Block, values: dict[str, str]) -> list[str]:
    """The lines a ``text`` or ``lines`` block prints, before wrapping."""
    if block.text is not None:
        return [_fill(block.text, values)]
    return _fill(block.lines or "", values).splitlines() or [""]


def _shown(block: Block, model: Fields) -> bool:
    return block.when is None or bool(getattr(model, block.when, None))


def columns(text: str) -> int:
    """Printed width in font-A columns: a Chinese (full-width) character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("F", "W") else 1 for c in text)


def wrap_columns(text: str, width: int) -> list[str]:
    """Break ``text`` so no line is wider than ``width`` columns."""
    lines, current, used = [], "", 0
    for ch in text:
        w = columns(ch)
        if current and used + w > width:
            lines.append(current)
            current, used = "", 0
        current += ch
        used += w
    return lines + [current]


def _item_lines(model: Fields, name: str, width: int) -> list[str]:
    """The items table: name and period on the left, the amount right-aligned."""
    out = []
    for item in getattr(model, name):
        left = f"{item.name} {item.period}".strip()
        right = yuan(item.amount_fen)
        if columns(left) + 1 + columns(right) <= width:
            out.append(left + " " * (width - columns(left) - columns(right)) + right)
        else:
            out += wrap_columns(left, width)
            out.append(" " * (width - columns(right)) + right)
    return out


# -- text mode -------------------------------------------------------------------------------


def _text_mode(p: Dummy, blocks: list[Block], model: Fields, values: dict[str, str], templates: Templates,
               profile: PrinterProfile) -> None:
    p._raw(FS_CHINESE_ON)
    cols = profile.chars_per_line

    def line(text: str, block: Block) -> None:
        p.set(align=block.align, bold=block.bold, custom_size=block.size > 1, width=block.size, height=block.size,
              normal_textsize=block.size == 1)
        for chunk in wrap_columns(text, cols // block.size):
            p._raw(chunk.encode(profile.encoding) + b"\n")

    for block in blocks:
        kind = block.kind
        if kind in ("text", "lines"):
            for t in _texts(block, values):
                line(t, block)
        elif kind == "items":
            for row in _item_lines(model, block.items or "", cols):
                line(row, block)
        elif kind == "rule":
            line("-" * cols, Block(text="-"))
        elif kind == "feed":
            p.set(normal_textsize=True)
            p._raw(b"\n" * (block.feed or 1))
        elif kind == "qr":
            data = _fill(block.qr or "", values)
            p.set(align="center", normal_textsize=True, bold=False)
            if profile.native_qr:
                p.qr(data, ec=QR_ECLEVEL_M, size=block.size if block.size > 1 else 6, native=True)
                p._raw(b"\n")
            else:
                p.image(_qr_image(data, block.size if block.size > 1 else 6), impl="bitImageRaster")
        elif kind == "logo":
            p.set(align="center", normal_textsize=True, bold=False)
            p.image(_logo(templates.logo(block.logo or "")), impl="bitImageRaster")
    p.set(align="left", bold=False, normal_textsize=True)


# -- bitmap mode -----------------------------------------------------------------------------


def _bitmap_mode(p: Dummy, blocks: list[Block], model: Fields, values: dict[str, str], templates: Templates,
                 profile: PrinterProfile) -> None:
    width = profile.dots
    pieces: list[Image.Image] = []

    def text(t: str, block: Block) -> None:
        face = font(LINE_DOTS * block.size, bold=block.bold)
        for chunk in wrap(t, face, width):
            h = int(LINE_DOTS * block.size * 1.35)
            row = Image.new("1", (width, h), 1)
            w = int(face.getlength(chunk))
            x = {"left": 0, "center": (width - w) // 2, "right": width - w}[block.align]
            ImageDraw.Draw(row).text((max(0, x), 0), chunk, font=face, fill=0)
            pieces.append(row)

    for block in blocks:
        kind = block.kind
        if kind in ("text", "lines"):
            for t in _texts(block, values):
                text(t, block)
        elif kind == "items":
            # Drawn as monospaced columns would misalign: each row is name left, amount right.
            face = font(LINE_DOTS, bold=block.bold)
            for item in getattr(model, block.items or ""):
                left, right = f"{item.name} {item.period}".strip(), yuan(item.amount_fen)
                room = width - int(face.getlength(right)) - LINE_DOTS // 2
                parts = wrap(left, face, room)
                for i, part in enumerate(parts):
                    row = Image.new("1", (width, int(LINE_DOTS * 1.35)), 1)
                    draw = ImageDraw.Draw(row)
                    draw.text((0, 0), part, font=face, fill=0)
                    if i == len(parts) - 1:
                        draw.text((width - int(face.getlength(right)), 0), right, font=face, fill=0)
                    pieces.append(row)
        elif kind == "rule":
            row = Image.new("1", (width, LINE_DOTS), 1)
            ImageDraw.Draw(row).line([(0, LINE_DOTS // 2), (width, LINE_DOTS // 2)], fill=0, width=2)
            pieces.append(row)
        elif kind == "feed":
            pieces.append(Image.new("1", (width, LINE_DOTS * (block.feed or 1)), 1))
        elif kind == "qr":
            pieces.append(_centred(_qr_image(_fill(block.qr or "", values), block.size if block.size > 1 else 6), width))
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
    segno.make(data, error="m", micro=False).save(buf, kind="png", scale=module, border=3)
    buf.seek(0)
    with Image.open(buf) as img:
        return img.convert("1")


@lru_cache(maxsize=8)
def _logo_cached(path: Path, mtime: float) -> Image.Image:
    with Image.open(path) as img:
        return ImageOps.grayscale(img).point(lambda v: 0 if v < 128 else 255).convert("1")


def _logo(path: Path) -> Image.Image:
    return _logo_cached(path, path.stat().st_mtime)


def _centred(img: Image.Image, width: int) -> Image.Image:
    """``img`` on a strip as wide as the paper, in the middle (bitmap mode builds the whole
    paper; in text mode the printer centres a raster itself, after ``ESC a 1``)."""
    if img.width > width:
        img = img.resize((width, img.height * width // img.width))
    strip = Image.new("1", (width, img.height), 1)
    strip.paste(img, ((width - img.width) // 2, 0))
    return strip
