"""Drawing an ESC/POS job as the paper would look: a PNG a person can open.

The virtual printer renders every job it receives with this, so a developer running
``hall up`` can see each ticket and receipt, and tests can decode the QR code from the
picture with pyzbar. Text is laid out as a printer's font does it, in cells of 12 dots (ASCII)
or 24 dots (Chinese), 24 dots high, drawn with Noto Sans CJK SC (Debian's fonts-noto-cjk)
and scaled by the ``GS !`` multipliers, so columns line up as on paper; QR codes are drawn
by segno with the job's module size; raster images bit for bit.
"""

from __future__ import annotations

import io
import unicodedata

from PIL import Image, ImageDraw

from hall_common.cjk import font

from .escpos_parse import QR, Cut, Feed, Raster, Text, Unknown, parse

DOTS = {58: 384, 80: 576}
LINE = 24


def render(job: bytes, *, paper_mm: int = 80) -> Image.Image:
    """The job as a white strip ``paper_mm`` wide (58 or 80 mm), black print."""
    width = DOTS[paper_mm]
    pieces: list[Image.Image] = []
    for el in parse(job):
        if isinstance(el, Text):
            for chunk in _cells_wrap(el.text, width // el.width):
                pieces.append(_place(_text_line(chunk, el), width, el.align))
        elif isinstance(el, QR):
            import segno

            buf = io.BytesIO()
            segno.make(el.data, error="m", micro=False).save(buf, kind="png", scale=el.module, border=2)
            buf.seek(0)
            pieces.append(_place(Image.open(buf).convert("L"), width, "center"))
        elif isinstance(el, Raster):
            img = Image.frombytes("1", (el.width_bytes * 8, el.height), el.data.ljust(el.width_bytes * el.height, b"\0"))
            pieces.append(_place(Image.eval(img.convert("L"), lambda v: 255 - v), width, "center"))
        elif isinstance(el, Feed):
            pieces.append(Image.new("L", (width, LINE * max(1, el.lines)), 255))
        elif isinstance(el, Cut):
            cut = Image.new("L", (width, 16), 255)
            ImageDraw.Draw(cut).line([(0, 8), (width, 8)], fill=128, width=1)
            pieces.append(cut)
        elif isinstance(el, Unknown):
            note = Image.new("L", (width, LINE + 6), 255)
            ImageDraw.Draw(note).text((0, 2), f"[unknown command at byte {el.offset}]", font=font(18), fill=0)
            pieces.append(note)
    height = max(1, sum(p.height for p in pieces)) + 24
    paper = Image.new("L", (width, height), 255)
    y = 12
    for p in pieces:
        paper.paste(p, (0, y))
        y += p.height
    return paper


def _cell(ch: str) -> int:
    """A printer's font is monospaced: 12 dots for ASCII, 24 for a Chinese character."""
    return LINE if unicodedata.east_asian_width(ch) in ("F", "W") else LINE // 2


def _cells_wrap(text: str, width: int) -> list[str]:
    lines, current, used = [], "", 0
    for ch in text:
        if current and used + _cell(ch) > width:
            lines.append(current)
            current, used = "", 0
        current += ch
        used += _cell(ch)
    return lines + [current]


def _text_line(chunk: str, el: Text) -> Image.Image:
    """One printed line: each character in its own cell, magnified by ``GS !`` (drawn at
    the height's scale, then stretched if the width's differs)."""
    k = el.height
    face = font(LINE * k, bold=el.bold)
    w = max(1, sum(_cell(c) for c in chunk) * k)
    line = Image.new("L", (w, int(LINE * k * 1.3)), 255)  # room for CJK ascent and descent
    draw = ImageDraw.Draw(line)
    x = 0
    for ch in chunk:
        cell, glyph = _cell(ch) * k, face.getlength(ch)
        if glyph <= cell:
            draw.text((x + (cell - glyph) / 2, 0), ch, font=face, fill=0)
        else:  # a printer's font is narrow: squeeze a wide glyph into its cell
            one = Image.new("L", (int(glyph) + 1, line.height), 255)
            ImageDraw.Draw(one).text((0, 0), ch, font=face, fill=0)
            line.paste(one.resize((cell, line.height)), (x, 0))
        x += cell
    if el.width != el.height:
        line = line.resize((w * el.width // k, line.height))
    return line


def _place(img: Image.Image, width: int, align: str) -> Image.Image:
    if img.width > width:
        img = img.resize((width, max(1, img.height * width // img.width)))
    row = Image.new("L", (width, img.height), 255)
    x = {"left": 0, "center": (width - img.width) // 2, "right": width - img.width}[align]
    row.paste(img, (x, 0))
    return row
