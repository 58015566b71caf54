"""The hall's registers, in the order the console lists them."""

from __future__ import annotations

from hall_common.config import RegistersConfig

from .framework import Register
from .keys import Keys
from .lost_found import LostFound
from .parcels import Parcels
from .releases import Releases
from .renovations import Renovations


def registers(config: RegistersConfig | None = None) -> dict[str, Register]:
    config = config or RegistersConfig()
    found = (Renovations(remind_days=config.renovation_remind_days, inspect_every_days=config.inspection_every_days),
             Keys(), Parcels(), LostFound(), Releases())
    return {r.name: r for r in found}
