"""The agent's live services the staff console shows and acts on, as one typed object.

The console runs beside the agent in one process: its pages read and act through the very
objects the bus requests reach, so a call from a page, a GPIO button or a kiosk is the same
call. Each field is ``None`` when that service is not running (a console started alone, or a
test that builds only some); :func:`edge_agent.console_services.require` turns that into a
clear 503 page. The imports are for type checking only, so importing this module stays cheap
and pulls in neither Flask nor the services themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .aed import Aed
    from .alarms import Alarms
    from .complaints.service import ComplaintService
    from .environment import Environment
    from .first_aid import FirstAid
    from .handover import Handover
    from .metrics import EdgeMetrics
    from .payments import PaymentDesk
    from .printing.service import PrintService
    from .queue.service import QueueService
    from .refund_slips import RefundSlips
    from .registers.service import Registers
    from .retention import Retention


@dataclass(frozen=True)
class EdgeServices:
    """What ``create_app(config, services=...)`` keeps at ``app.extensions["edge"]``."""

    printing: PrintService | None = None
    """Live printer states and reprints, receipts at the counter."""
    queue: QueueService | None = None
    """The counter pages, today's figures and residents' phone pages."""
    complaints: ComplaintService | None = None
    """Residents' requests, and the public page a receipt's QR code opens."""
    alarms: Alarms | None = None
    """Acknowledging an alarm from the bell, and the alarm history."""
    payments: PaymentDesk | None = None
    """The kiosks' payments and their receipts."""
    refunds: RefundSlips | None = None
    """The hall's refunds, learned from the centre, and their slips at the counter."""
    aed: Aed | None = None
    """The AED's state, its checklist after a use, its battery and pad dates."""
    first_aid: FirstAid | None = None
    """The first-aid and convenience boxes."""
    environment: Environment | None = None
    """The environment pages."""
    retention: Retention | None = None
    """Residents' access and deletion requests, and the retention job's audit lines."""
    registers: Registers | None = None
    """The front desk's registers: renovations, keys, parcels, lost and found, goods release;
    the handover sheet reads ``registers.open_for_handover(now)``."""
    metrics: EdgeMetrics | None = None
    """``/metrics`` from the live objects (without it, from the database alone)."""
    handover: Handover | None = None
    """Opening and closing shifts, their handover sheets and acknowledgements."""


NAMES = tuple(f.name for f in fields(EdgeServices))
"""Every service's name, as :func:`edge_agent.console_services.require` takes it."""
