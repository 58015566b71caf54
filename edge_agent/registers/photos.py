"""A found item's photo as the register keeps it: any picture a phone or camera makes,
refused when it is too big or not a picture, turned upright, shrunk to what a page shows,
and saved as JPEG without its metadata (a phone's photo says where and when it was taken,
and by which phone)."""

from __future__ import annotations

import io

from .fields import Refused

MAX_SIDE = 1280
QUALITY = 80


def too_large(max_kb: int) -> Refused:
    size = f"{max_kb // 1024} MB" if max_kb >= 1024 else f"{max_kb} KB"
    return Refused(f"照片：文件太大（最大 {size}）", f"Photo: too large ({size} at most)", "photo")


def shrink(data: bytes, *, max_kb: int) -> bytes:
    """``data`` as a JPEG of at most ``MAX_SIDE`` pixels a side; :class:`Refused` (field
    ``photo``) if it is larger than ``max_kb`` or not a picture."""
    if len(data) > max_kb * 1024:
        raise too_large(max_kb)
    from PIL import Image, ImageOps, UnidentifiedImageError  # only when a photo comes

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            picture = ImageOps.exif_transpose(img).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise Refused("照片：不是可识别的图片（请用 JPG 或 PNG）", "Photo: not a picture (use JPG or PNG)", "photo") from None
    picture.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=QUALITY, optimize=True)  # no exif= : the metadata stays behind
    return out.getvalue()
