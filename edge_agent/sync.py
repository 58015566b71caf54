"""The hall's link to the centre, as one component of the edge agent.

* The sync worker (:class:`central_sync.client.SyncWorker`, shared with the kiosk) pushes
  the outbox and pulls two feeds: signed configurations for the hall's nodes, kept in
  ``desired_configs`` and published retained; public content (the announcement, the
  disclosures), kept so the hall shows it offline. The worker runs on its own thread with
  its own connection to ``edge.db``; the feeds are written here, on this component's.
* The centre watch (:class:`edge_agent.centre_link.CentreWatch`) tells kiosks whether the
  centre answers, and nudges the worker when it comes back.
* The centre learns the hall's kiosks and boards from their births, and which configuration
  each runs from their reports: both go to the outbox.

Without ``[centre]`` in the configuration the component does nothing; without a token file
it watches the centre but does not sync.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from central_sync import client as outbox
from central_sync.client import SyncWorker
from central_sync.protocol import ConfigItem, ContentItem
from hall_common.bus import contract
from hall_common.bus.client import BusMessage
from hall_common.bus.payloads import Announcement
from hall_common.config import EdgeConfig
from hall_common.errors import PayloadError, TopicError
from hall_common.storage import immediate

from . import disclosures
from .centre_api import CentreAPI
from .centre_link import CentreWatch
from .component import Component

log = logging.getLogger(__name__)


class CentreSync(Component):
    name = "sync"

    def __init__(self, config: EdgeConfig, *, db_path: Path, bus: Any) -> None:
        self.bus, self.hall, self.link = bus, config.hall_id, config.centre
        self.own_connection(db_path)
        self.watch: CentreWatch | None = None
        self.worker: SyncWorker | None = None
        if self.link is not None:
            self.watch = CentreWatch(bus, self.link, on_online=self.nudge)
            if self.link.token_file is not None:
                self.worker = SyncWorker(db_path=db_path, url=self.link.url, token=self.link.token() or "",
                                         hall_id=config.hall_id, batch_size=self.link.batch_size,
                                         timeout=self.link.timeout,
                                         feeds={"configs": self._configs, "content": self._content})

    @property
    def syncs(self) -> bool:
        """Whether records go to the centre (a token is configured)."""
        return self.worker is not None

    def api(self) -> CentreAPI | None:
        """A client for the centre's API, for the requests kiosks make through the edge
        (bills, payments); it fails at once while the watch knows the centre is down."""
        if self.link is None:
            return None
        watch = self.watch
        return CentreAPI(url=self.link.url, token=self.link.token, timeout=min(3.0, self.link.timeout),
                         centre_online=lambda: watch.online if watch is not None else None)

    def nudge(self) -> None:
        """Push now: a record that must reach the centre was just written."""
        if self.worker is not None:
            self.worker.nudge()

    # -- lifecycle ---------------------------------------------------------------------------

    def attach(self, bus: Any) -> None:
        if self.worker is not None:
            bus.subscribe(contract.BIRTH.filter(hall=self.hall), self._on_birth)
            bus.subscribe(contract.CONFIG_REPORTED.filter(hall=self.hall), self._on_config_reported)

    def start(self) -> None:
        if self.watch is not None:
            self.watch.start()
        if self.worker is not None:
            self.worker.start()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        if self.watch is not None:
            self.watch.stop()

    def republish(self) -> None:
        """Every node's desired configuration and the announcement, retained again."""
        with self._lock:
            rows = list(self.db["desired_configs"].rows)
        for row in rows:
            self._publish_config(row["node"], json.loads(row["doc"]))
        if self.worker is not None:
            self._publish_announcement()

    # -- to the centre -----------------------------------------------------------------------

    def _on_birth(self, msg: BusMessage) -> None:
        birth = msg.payload
        if birth.kind in ("kiosk", "display", "edge"):
            # The centre learns the hall's kiosks, boards and edge (for publishing settings) from these.
            self._to_centre("node_birth", {"node": msg.parts["node"], "kind": birth.kind, "sw": birth.sw,
                                           "config_version": birth.config_version}, msg.parts["node"])

    def _on_config_reported(self, msg: BusMessage) -> None:
        r = msg.payload
        self._to_centre("config_report", {"node": msg.parts["node"], "version": r.version, "status": r.status,
                                          "reason": r.reason}, msg.parts["node"])

    def _to_centre(self, kind: str, body: dict[str, Any], node: str) -> None:
        with self._lock, immediate(self.db):
            outbox.add(self.db, kind, body, node=node)
        self.nudge()

    # -- from the centre (the sync worker's thread) -------------------------------------------

    def _configs(self, items: list[ConfigItem]) -> None:
        """Signed configurations from the centre: kept, then published retained for each node."""
        with self._lock, immediate(self.db):
            for item in items:
                self.db["desired_configs"].upsert({"node": item.node, "version": item.doc.get("version", 0),
                                                   "doc": json.dumps(item.doc), "received_at": time.time()}, pk="node")
        for item in items:
            self._publish_config(item.node, item.doc)

    def _content(self, items: list[ContentItem]) -> None:
        """Public content from the centre, kept so the hall shows it offline, then published."""
        with self._lock, immediate(self.db):
            disclosures.apply(self.db, items)  # kept in tables of their own, searchable
            for item in items:
                if item.kind == "disclosure":
                    continue
                if item.deleted:
                    self.db["content"].delete_where("kind = ? AND key = ?", [item.kind, item.key])
                else:
                    self.db["content"].upsert({"kind": item.kind, "key": item.key, "seq": item.seq,
                                               "body": json.dumps(item.body, ensure_ascii=False)}, pk=("kind", "key"))
        self._publish_announcement()

    def _publish_config(self, node: str, doc: dict[str, Any]) -> None:
        try:
            self.bus.publish(contract.CONFIG_DESIRED, doc, hall=self.hall, node=node)
        except (PayloadError, TopicError, ValueError) as exc:
            log.error("config for %s from the centre not published: %s", node, exc)

    def _publish_announcement(self) -> None:
        with self._lock:
            rows = list(self.db["content"].rows_where("kind = 'announcement' AND key = 'line'"))
        text = json.loads(rows[0]["body"]).get("text", "") if rows else ""
        seq = rows[0]["seq"] if rows else 0
        self.bus.publish(contract.ANNOUNCEMENT, Announcement(text=text[:200], version=seq, ts=time.time()),
                         hall=self.hall)
