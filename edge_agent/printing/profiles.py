"""Printer profiles: what the edge must know of a printer model to print on it.

One TOML file per model in ``firmware_configs/printers/profiles/``; the file's stem is the
name a hall's ``[[printers]] profile`` refers to. Adding a model is adding a file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hall_common.errors import ConfigError

PRINTERS_DIR = Path(__file__).resolve().parents[2] / "firmware_configs" / "printers"
PROFILE_DIR = PRINTERS_DIR / "profiles"


class PrinterProfile(BaseModel):
    """A printer model: its paper, its dots, and whether it has a Chinese font."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    model: str = Field(min_length=1, max_length=60)
    escpos_profile: str = Field(description="python-escpos capability profile (feature flags, image width)")
    paper_mm: Literal[58, 80]
    dots: int = Field(ge=200, le=832, description="printable dots across the paper")
    chars_per_line: int = Field(ge=16, le=64, description="ASCII columns in font A; a Chinese character takes two")
    mode: Literal["text", "bitmap"] = Field(description="text: GB18030 font in ROM; bitmap: tickets as pictures")
    encoding: Literal["gb18030", "gbk", "gb2312"] = "gb18030"
    native_qr: bool = True
    confirms_jobs: bool = Field(True, description="answers GS r 1 in order, so a job is known to be on paper "
                                "before it is reported printed; false only for a model without GS r")


def load_profiles(directory: Path = PROFILE_DIR) -> dict[str, PrinterProfile]:
    """Every profile in ``directory``, by name; a bad file is a :class:`ConfigError`
    naming the file and the key."""
    from escpos.capabilities import CAPABILITIES

    profiles: dict[str, PrinterProfile] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            profile = PrinterProfile.model_validate({**data, "name": path.stem})
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(f"{path.name}: {'.'.join(str(x) for x in err['loc'])}: {err['msg']}") from None
        if profile.escpos_profile not in CAPABILITIES["profiles"]:
            raise ConfigError(f"{path.name}: escpos_profile: python-escpos has no profile {profile.escpos_profile!r}")
        profiles[path.stem] = profile
    return profiles
