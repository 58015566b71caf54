"""Drawing an ESC/POS job as the paper would look: a PNG a person can open.

The virtual printer renders every job it receives with this, so a developer running
``hall up`` can see each ticket and receipt, and tests can decode the QR code from the
picture with pyzbar. Text uses Noto Sans CJK SC (Debian's fonts-noto-cjk) at the printer's
24-dot font size, scaled by the ``GS !`` multipliers; QR codes are drawn by segno with the
job's module size; raster images bit for bit.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .escpos_parse import QR, Cut, Feed, Raster, Text, Unknown, parse

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
SC_INDEX = 2  # Noto Sans CJK .ttc faces: JP, KR, SC, TC, HK
DOTS = {58: 384, 80: 576}
LINE = 24


def _font(bold: bool, size: int) -> ImageFont.FreeTypeFont:
    name = "NotoSansCJK-Bold.ttc" if bold else "NotoSansCJK-Regular.ttc"
    return ImageFont.truetype(str(FONT_DIR / name), size, index=SC_INDEX)


def render(job: bytes, *, paper_mm: int = 80) -> Image.Image:
    """The job as a white strip ``paper_mm`` wide (58 or 80 mm), black print."""
    width = DOTS[paper_mm]
    pieces: list[Image.Image] = []
    for el in parse(job):
        if isinstance(el, Text):
            font = _font(el.bold, LINE * el.height)
            for chunk in _wrap(el.text, font, width * el.height // el.width):
                w = max(1, int(font.getlength(chunk or " ")))
                h = int(LINE * el.height * 1.3)  # room for CJK ascent and descent
                line = Image.new("L", (w, h), 255)
                ImageDraw.Draw(line).text((0, 0), chunk, font=font, fill=0)
                if el.width != el.height:
                    line = line.resize((max(1, w * el.width // el.height), h))
                pieces.append(_place(line, width, el.align))
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
            ImageDraw.Draw(note).text((0, 2), f"[unknown command at byte {el.offset}]", font=_font(False, 18), fill=0)
            pieces.append(note)
    height = max(1, sum(p.height for p in pieces)) + 24
    paper = Image.new("L", (width, height), 255)
    y = 12
    for p in pieces:
        paper.paste(p, (0, y))
        y += p.height
    return paper


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Break a line where the paper ends, character by character, as a printer does."""
    lines, current = [], ""
    for ch in text:
        if current and font.getlength(current + ch) > width:
            lines.append(current)
            current = ch
        else:
            current += ch
    return lines + [current]


def _place(img: Image.Image, width: int, align: str) -> Image.Image:
    if img.width > width:
        img = img.resize((width, max(1, img.height * width // img.width)))
    row = Image.new("L", (width, img.height), 255)
    x = {"left": 0, "center": (width - img.width) // 2, "right": width - img.width}[align]
    row.paste(img, (x, 0))
    return row
