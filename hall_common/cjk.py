"""The Chinese font for everything drawn rather than typed: tickets in bitmap mode and the
virtual printer's pictures of what it printed.

Noto Sans CJK SC comes with Debian's fonts-noto-cjk (``scripts/setup`` installs it). It is
found through fontconfig, so a machine that keeps its fonts elsewhere still works; the
``.ttc`` holds several faces and fontconfig says which one is Simplified Chinese.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from hall_common.errors import HallError

_FALLBACK = {"Regular": (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2),
             "Bold": (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"), 2)}


class FontMissing(HallError, FileNotFoundError):
    """No Noto Sans CJK SC on this machine: install fonts-noto-cjk."""


@lru_cache(maxsize=2)
def _face(style: str) -> tuple[str, int]:
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}|%{index}", f"Noto Sans CJK SC:style={style}"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        file, index = out.split("|")
        if "NotoSansCJK" in file or "NotoSansSC" in file:
            return file, int(index or 0)
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    path, index = _FALLBACK[style]
    if not path.exists():
        raise FontMissing("Noto Sans CJK SC is not installed (Debian package fonts-noto-cjk)")
    return str(path), index


@lru_cache(maxsize=64)
def font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    """Noto Sans CJK SC at ``size`` pixels."""
    file, index = _face("Bold" if bold else "Regular")
    return ImageFont.truetype(file, size, index=index)


def wrap(text: str, face: ImageFont.FreeTypeFont, width_px: int) -> list[str]:
    """Break ``text`` where it would pass ``width_px`` pixels, character by character, as a
    printer does (Chinese has no spaces to break at). A character wider than the whole
    width still gets a line of its own, so nothing is lost."""
    lines, current = [], ""
    for ch in text:
        if current and face.getlength(current + ch) > width_px:
            lines.append(current)
            current = ch
        else:
            current += ch
    return lines + [current]
