"""What the staff console uses of the running agent (placeholder until the console change lands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EdgeServices:
    printing: Any = None
    queue: Any = None
    complaints: Any = None
    alarms: Any = None
    payments: Any = None
    aed: Any = None
    first_aid: Any = None
    environment: Any = None
    metrics: Any = None
