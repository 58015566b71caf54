"""A resident pressed "call staff" on a kiosk (``help``): the request is stored with its
record for the centre, in one transaction, and the staff console lists it until someone
marks it handled."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from central_sync import client as outbox
from hall_common.bus.methods import NoArgs
from hall_common.storage import immediate

from .component import Component, route

log = logging.getLogger(__name__)


class HelpRequests(Component):
    name = "help"

    def __init__(self, *, db_path: Path, nudge: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.own_connection(db_path)
        self._nudge, self.clock = nudge, clock

    @route("help")
    def handle_help(self, requester: str, args: NoArgs) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        row = {"id": request_id, "node": requester, "ts": self.clock()}
        with self._lock, immediate(self.db):  # the fact and its record for the centre, or neither
            self.db["help_requests"].insert(row, pk="id")
            outbox.add(self.db, "help_request", row, node=requester, record_id=request_id)
        if self._nudge is not None:
            self._nudge()
        log.info("help requested at %s", requester)
        return {"id": request_id}
