"""QR codes on the kiosk's screens, as inline SVG (crisp at any size, no image request).

segno (with the gzip and XML modules its writers import) is loaded at the first code
shown, not while the kiosk starts (issue 20)."""

from __future__ import annotations

import io


def qr_svg(text: str, *, scale: int = 8) -> str:
    """``text`` as an SVG QR code with a 2-module quiet zone (error correction M: a phone
    reads it off a screen at an angle)."""
    import segno

    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=scale, border=2, xmldecl=False, svgns=True)
    return out.getvalue().decode()
