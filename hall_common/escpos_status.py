"""ESC/POS real-time status (DLE EOT n), as the Epson specification defines it.

The printer driver asks ``DLE EOT n`` (``10 04 n``) and decodes the one-byte answer; the
virtual printer encodes its state into the same bytes. Both use this module, so they
cannot disagree about a bit. In every status byte bit 1 and bit 4 are fixed at 1 and bit 0
and bit 7 at 0: a byte that breaks that pattern is not a status answer (line noise, a
printer answering something else) and is refused rather than guessed at.

=====  ==========================  ==========================================
 n      meaning                     bits used here
=====  ==========================  ==========================================
 1      printer status              3: offline
 2      offline cause               2: cover open; 3: paper fed by the button;
                                    5: printing stopped by paper end; 6: error
 3      error cause                 3: autocutter error; 5: unrecoverable;
                                    6: auto-recoverable error
 4      roll paper sensor           2+3: paper near end; 5+6: paper end
=====  ==========================  ==========================================

Example::

    >>> decode({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12}).paper
    'ok'
    >>> hex(encode(PrinterStatus(online=True, paper="out"))[4])
    '0x7e'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hall_common.errors import HallError

DLE_EOT = b"\x10\x04"
FIXED = 0x12  # bits 1 and 4 are always 1
FIXED_MASK = 0x93  # bits 0, 1, 4 and 7 must read 0, 1, 1, 0

Paper = Literal["ok", "near_end", "out"]


class StatusError(HallError, ValueError):
    """A byte that is not a valid DLE EOT answer."""


@dataclass(frozen=True)
class PrinterStatus:
    """What the hall needs to know of a printer, from the four status bytes."""

    online: bool
    paper: Paper = "ok"
    cover_open: bool = False
    cutter_error: bool = False
    unrecoverable: bool = False
    recoverable_error: bool = False

    @property
    def can_print(self) -> bool:
        return (self.online and self.paper != "out" and not self.cover_open
                and not self.cutter_error and not self.unrecoverable)


def query(n: int) -> bytes:
    """The request for status ``n`` (1..4)."""
    if n not in (1, 2, 3, 4):
        raise ValueError("DLE EOT n is 1, 2, 3 or 4")
    return DLE_EOT + bytes([n])


def check(byte: int) -> int:
    if not 0 <= byte <= 0xFF or byte & FIXED_MASK != FIXED:
        raise StatusError(f"0x{byte:02x} is not a DLE EOT status byte")
    return byte


def decode(answers: dict[int, int]) -> PrinterStatus:
    """Decode the answers to DLE EOT 1..4 (a missing one counts as all clear)."""
    b1, b2, b3, b4 = (check(answers.get(n, FIXED)) for n in (1, 2, 3, 4))
    if b4 & 0x60 or b2 & 0x20:
        paper: Paper = "out"
    elif b4 & 0x0C:
        paper = "near_end"
    else:
        paper = "ok"
    return PrinterStatus(
        online=not b1 & 0x08,
        paper=paper,
        cover_open=bool(b2 & 0x04),
        cutter_error=bool(b3 & 0x08),
        unrecoverable=bool(b3 & 0x20),
        recoverable_error=bool(b3 & 0x40),
    )


def encode(status: PrinterStatus) -> dict[int, int]:
    """The four bytes a printer in ``status`` answers (the virtual printer uses this)."""
    error = status.cutter_error or status.unrecoverable or status.recoverable_error
    offline = not status.online or status.cover_open or status.paper == "out" or error
    b1 = FIXED | (0x08 if offline else 0)
    b2 = FIXED | (0x04 if status.cover_open else 0) | (0x20 if status.paper == "out" else 0) | (0x40 if error else 0)
    b3 = (FIXED | (0x08 if status.cutter_error else 0) | (0x20 if status.unrecoverable else 0)
          | (0x40 if status.recoverable_error else 0))
    b4 = FIXED | (0x0C if status.paper in ("near_end", "out") else 0) | (0x60 if status.paper == "out" else 0)
    return {1: b1, 2: b2, 3: b3, 4: b4}
