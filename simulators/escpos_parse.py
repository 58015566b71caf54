"""Reading an ESC/POS job back: what a printer would put on paper.

The virtual printer uses this to render jobs, and tests use it to assert on what was
printed (the Chinese text decoded back from GB18030, QR payloads, cuts). It understands the
commands the hall's templates use; any other ``ESC``/``GS``/``FS`` sequence is skipped by its
documented length, and a byte it cannot place ends the parse with an ``unknown`` element
rather than a guess.

Elements, in paper order:

* ``Text(text, bold, width, height, align)``: one printed line (``width``/``height`` are
  the ``GS !`` multipliers, 1..8);
* ``QR(data, module)``: a QR code (``GS ( k``), ``module`` its dot size;
* ``Raster(width_bytes, height, data)``: a ``GS v 0`` image;
* ``Feed(lines)``, ``Cut()``, ``Unknown(offset)``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    text: str
    bold: bool = False
    width: int = 1
    height: int = 1
    align: str = "left"


@dataclass(frozen=True)
class QR:
    data: str
    module: int = 3


@dataclass(frozen=True)
class Raster:
    width_bytes: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Feed:
    lines: int


@dataclass(frozen=True)
class Cut:
    pass


@dataclass(frozen=True)
class Unknown:
    offset: int


Element = Text | QR | Raster | Feed | Cut | Unknown

ESC, GS, FS, LF = 0x1B, 0x1D, 0x1C, 0x0A
_ALIGN = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center", 50: "right"}
# Sequences skipped with one argument byte (ESC x n, GS x n) when not handled above.
_ESC_ONE_ARG = set(b"-23GJMRSUVtr{ \x3d")
_GS_ONE_ARG = set(b"BHLfhwbxa")


@dataclass
class _Style:
    bold: bool = False
    width: int = 1
    height: int = 1
    align: str = "left"
    qr_module: int = 3
    qr_data: bytes = b""


def parse(job: bytes, encoding: str = "gb18030") -> list[Element]:
    out: list[Element] = []
    st = _Style()
    line = bytearray()
    i = 0
    n = len(job)

    def flush() -> None:
        if line:
            out.append(Text(line.decode(encoding, errors="replace"), st.bold, st.width, st.height, st.align))
            line.clear()

    while i < n:
        b = job[i]
        if b == LF:
            flush()
            i += 1
        elif b == ESC and i + 1 < n:
            c = job[i + 1]
            if c == ord("@"):
                flush()
                st = _Style()
                i += 2
            elif c == ord("E") and i + 2 < n:
                st.bold = bool(job[i + 2] & 1)
                i += 3
            elif c == ord("!") and i + 2 < n:
                mode = job[i + 2]
                st.bold = bool(mode & 0x08)
                st.height = 2 if mode & 0x10 else 1
                st.width = 2 if mode & 0x20 else 1
                i += 3
            elif c == ord("a") and i + 2 < n:
                st.align = _ALIGN.get(job[i + 2], "left")
                i += 3
            elif c == ord("d") and i + 2 < n:
                flush()
                out.append(Feed(job[i + 2]))
                i += 3
            elif c == ord("p") and i + 4 < n:
                i += 5  # cash drawer pulse
            elif c == ord("c") and i + 3 < n:
                i += 4
            elif c in _ESC_ONE_ARG and i + 2 < n:
                i += 3
            else:
                i += 2
        elif b == GS and i + 1 < n:
            c = job[i + 1]
            if c == ord("!") and i + 2 < n:
                size = job[i + 2]
                st.width, st.height = (size >> 4) + 1, (size & 0x0F) + 1
                i += 3
            elif c == ord("V") and i + 2 < n:
                flush()
                m = job[i + 2]
                out.append(Cut())
                i += 4 if m in (65, 66, 97, 98, 103, 104) else 3
            elif c == ord("(") and i + 4 < n and job[i + 2] == ord("k"):
                length = job[i + 3] | (job[i + 4] << 8)
                body = job[i + 5:i + 5 + length]
                i += 5 + length
                if len(body) >= 3 and body[0] == 49:  # cn = 49: QR code
                    fn = body[1]
                    if fn == 67:
                        st.qr_module = body[2]
                    elif fn == 80:
                        st.qr_data = bytes(body[3:])
                    elif fn == 81:
                        flush()
                        out.append(QR(st.qr_data.decode("utf-8", errors="replace"), st.qr_module))
            elif c == ord("v") and i + 7 < n and job[i + 2] == ord("0"):
                xb = job[i + 4] | (job[i + 5] << 8)
                yd = job[i + 6] | (job[i + 7] << 8)
                data = job[i + 8:i + 8 + xb * yd]
                flush()
                out.append(Raster(xb, yd, bytes(data)))
                i += 8 + xb * yd
            elif c in _GS_ONE_ARG and i + 2 < n:
                i += 3
            else:
                out.append(Unknown(i))
                return out
        elif b == FS and i + 1 < n:
            i += 2  # FS & / FS . : Chinese character mode on / off; text is GB18030 either way
        elif b in (0x0D, 0x09):
            i += 1
        elif b < 0x20:
            i += 1
        else:
            line.append(b)
            i += 1
    flush()
    return out


def text_lines(job: bytes) -> list[str]:
    """Just the printed lines of text, for assertions."""
    return [e.text for e in parse(job) if isinstance(e, Text)]


@dataclass(frozen=True)
class Unit:
    """One command or one run of text as a printer's input buffer holds it.

    ``kind`` is ``realtime`` (``DLE EOT n``: answered when it arrives, even mid-job),
    ``ordered`` (``GS r n``: answered in turn, once everything before it is printed),
    ``cut`` (the end of a job), ``print`` (text, an image, a QR code or a feed: ``lines``
    says how many print lines it takes) or ``command`` (style, alignment, initialise)."""

    length: int
    kind: str
    lines: int = 0


def next_unit(buf: bytes | bytearray, i: int = 0) -> Unit | None:
    """The unit starting at ``buf[i]``, or None while its bytes have not all arrived.

    Lengths come from the command itself (an image's or a QR code's size is in its
    header), so a ``DLE EOT`` or ``GS V`` byte pattern inside image data is not taken for
    a command, as a printer that parses its input does not."""
    n = len(buf) - i
    if n <= 0:
        return None
    b = buf[i]
    if b == LF:
        return Unit(1, "print", 1)
    if b == 0x10:  # DLE
        if n < 3:
            return None
        return Unit(3, "realtime") if buf[i + 1] == 0x04 else Unit(1, "command")
    if b == GS:
        if n < 3:
            return None
        c = buf[i + 1]
        if c == ord("v"):
            if n < 8:
                return None
            xb, yd = buf[i + 4] | (buf[i + 5] << 8), buf[i + 6] | (buf[i + 7] << 8)
            return Unit(8 + xb * yd, "print", max(1, -(-yd // 24))) if n >= 8 + xb * yd else None
        if c == ord("("):
            if n < 5:
                return None
            length = 5 + (buf[i + 3] | (buf[i + 4] << 8))
            if n < length:
                return None
            prints_qr = buf[i + 2] == ord("k") and length >= 8 and buf[i + 5] == 49 and buf[i + 6] == 81
            return Unit(length, "print", 8) if prints_qr else Unit(length, "command")
        if c == ord("V"):
            length = 4 if buf[i + 2] in (65, 66, 97, 98, 103, 104) else 3
            return Unit(length, "cut") if n >= length else None
        if c == ord("r"):
            return Unit(3, "ordered")
        return Unit(3 if c in _GS_ONE_ARG or c == ord("!") else 2, "command")
    if b == ESC:
        if n < 2:
            return None
        c = buf[i + 1]
        if c == ord("d"):
            return Unit(3, "print", buf[i + 2]) if n >= 3 else None
        length = {ord("@"): 2, ord("p"): 5, ord("c"): 4}.get(c)
        if length is None:
            length = 3 if c in _ESC_ONE_ARG or c in b"E!a" else 2
        return Unit(length, "command") if n >= length else None
    if b == FS:
        return Unit(2, "command") if n >= 2 else None
    # A run of text up to the next control byte: it prints on the line the next LF ends.
    end = i + 1
    while end < len(buf) and buf[end] >= 0x20:
        end += 1
    return Unit(end - i, "print")
