"""Pictures for a disclosure: uploaded photos (PNG or JPEG) and PDF pages, made into JPEGs at
most 1080 px wide and small enough to cross the hall bus in one message (a kiosk asks the
edge for each picture over the bus, DESIGN rule 2). Pure functions of bytes, so the admin
form and ``hall up``'s demo items use the same code."""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

from hall_common.errors import HallError

MAX_WIDTH = 1080
MAX_IMAGE_BYTES = 170_000
"""Each JPEG's limit: base64 of it and the reply around it stay under the bus's 256 KiB."""
MAX_PAGES = 12


class NotAPicture(HallError, ValueError):
    """The file is not a PNG, JPEG or PDF this module can read."""


def kind_of(data: bytes) -> str | None:
    """``png``, ``jpeg``, ``pdf`` or None, by the file's first bytes (not its name)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"%PDF-"):
        return "pdf"
    return None


def pictures_from(data: bytes) -> list[dict[str, Any]]:
    """The pictures of one uploaded file: one for an image, one per page for a PDF."""
    kind = kind_of(data)
    if kind == "pdf":
        return [_picture(img) for img in _pdf_pages(data)]
    if kind in ("png", "jpeg"):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                return [_picture(img)]
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            raise NotAPicture(str(exc)) from None
    raise NotAPicture("not a PNG, JPEG or PDF file")


def _pdf_pages(data: bytes) -> list[Any]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise NotAPicture(str(exc)) from None
    try:
        if len(pdf) > MAX_PAGES:
            raise NotAPicture(f"more than {MAX_PAGES} pages")
        pages = []
        for page in pdf:
            width = page.get_width() or 1
            pages.append(page.render(scale=MAX_WIDTH / width).to_pil())
        return pages
    finally:
        pdf.close()


def _picture(img: Any) -> dict[str, Any]:
    """A JPEG no wider than MAX_WIDTH and under MAX_IMAGE_BYTES, with its sha256."""
    from PIL import Image

    img = img.convert("RGB") if img.mode != "RGB" else img.copy()
    if img.width > MAX_WIDTH:
        img = img.resize((MAX_WIDTH, max(1, round(img.height * MAX_WIDTH / img.width))), Image.LANCZOS)
    while True:
        for quality in (85, 70, 55, 40):
            out = io.BytesIO()
            img.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= MAX_IMAGE_BYTES:
                raw = out.getvalue()
                return {"sha256": hashlib.sha256(raw).hexdigest(), "mime": "image/jpeg", "width": img.width,
                        "height": img.height, "data": base64.b64encode(raw).decode()}
        img = img.resize((max(1, img.width * 3 // 4), max(1, img.height * 3 // 4)), Image.LANCZOS)
