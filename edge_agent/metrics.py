"""Prometheus metrics of the edge agent, read at scrape time.

Nothing here keeps a copy of the hall's state: :class:`EdgeCollector` asks the live objects
when Prometheus scrapes, so a metric is never older than the scrape. The one value the agent
pushes is :attr:`EdgeMetrics.ingested`, a counter of bus messages it handled.

Metrics (every name starts with ``hall_``; labels carry device and node ids, severities and
states, never a resident's name, phone, room or text, so the page may be scraped without a
login):

* ``hall_active_alarms{severity, state}``: active alarms (every severity and both active
  states are present, 0 when none, so an alert rule sees the series go back to 0);
* ``hall_nodes{kind, state}``: nodes per registry state, where a ``ready`` node that stopped
  reporting counts as ``stale``; ``hall_node_up{node, kind}`` 1 while ready and not stale;
  ``hall_node_last_seen_timestamp_seconds{node}``;
* ``hall_printer_online{printer}``, ``hall_printer_can_print{printer}`` and
  ``hall_printer_paper{printer, paper}`` (1 for the current level: ok, near_end, out), for
  printers polled at least once;
* ``hall_environment_reading{node, reading}``: the latest reading of each series;
* ``hall_outbox_depth`` and ``hall_outbox_oldest_age_seconds``: what waits for the centre;
* ``hall_bus_messages_ingested_total{family}`` and ``hall_bus_messages_dropped_total``.

The environment service is optional and duck-typed: it should have ``latest() ->
dict[tuple[str, str], float]`` (``(node, reading) → value``). One with only ``snapshot()``
(:class:`edge_agent.environment.Environment` today) is read through that instead.

Example::

    metrics = EdgeMetrics(alarms=alarms, printing=printing, environment=env, bus=bus)
    bus.subscribe(contract.ESPHOME_SENSOR.filter(hall=hall), metrics.counting(on_reading), qos=0)
    body = metrics.render(db, stale_after=90, syncs=True)      # the /metrics page
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from central_sync import client as outbox
from hall_common.bus.client import BusMessage

from .alarms import SEVERITIES
from .registry import Registry

if TYPE_CHECKING:
    import sqlite_utils

log = logging.getLogger(__name__)

ACTIVE_STATES = ("ACTIVE_UNACK", "ACTIVE_ACK")
PAPER_LEVELS = ("ok", "near_end", "out")


class EdgeMetrics:
    """What the edge agent gives its ``/metrics`` page. See the module docstring.

    :param alarms: the agent's :class:`~edge_agent.alarms.Alarms`; without it, active alarms
        are read from the database's ``alarms`` table.
    :param printing: the agent's print service (its ``workers``' ``status``).
    :param environment: the environment service, or None (see the module docstring).
    :param bus: the agent's bus client, for its count of dropped messages.
    """

    def __init__(self, *, alarms: Any = None, printing: Any = None, environment: Any = None, bus: Any = None) -> None:
        self.alarms, self.printing, self.environment, self.bus = alarms, printing, environment, bus
        # Plain integers, turned into a counter family at scrape time: this is called for
        # every reading on the bus's network thread, where prometheus_client's labelled
        # counter (a label lookup and a lock each time) cost a tenth of the ingest.
        self.ingested: dict[str, int] = {}

    def count(self, msg: BusMessage) -> None:
        """Count one handled message."""
        name = msg.family.name
        self.ingested[name] = self.ingested.get(name, 0) + 1

    def ingested_family(self) -> CounterMetricFamily:
        family = CounterMetricFamily("hall_bus_messages_ingested", "Bus messages the edge agent handled, by topic family",
                                     labels=["family"])
        for name, n in sorted(self.ingested.items()):
            family.add_metric([name], n)
        return family

    def counting(self, handler: Callable[[BusMessage], None]) -> Callable[[BusMessage], None]:
        """``handler`` that also counts each message it gets, to pass to ``bus.subscribe``."""

        def counted(msg: BusMessage) -> None:
            self.count(msg)
            handler(msg)

        counted.__qualname__ = getattr(handler, "__qualname__", "handler")
        return counted

    def render(self, db: sqlite_utils.Database, *, stale_after: float, syncs: bool) -> bytes:
        """The Prometheus text exposition, read now. ``db`` is the caller's own connection to
        ``edge.db`` (the console's per-request one): the agent's connection belongs to its
        bus worker and is never shared with a web thread."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(EdgeCollector(self, db, stale_after=stale_after, syncs=syncs))
        registry.register(_Ingested(self))
        return generate_latest(registry)


class EdgeCollector(Collector):
    """One scrape's reader: yields the metrics from :class:`EdgeMetrics`' objects and ``db``.
    A source that fails is logged and left out; the others are still reported."""

    def __init__(self, metrics: EdgeMetrics, db: sqlite_utils.Database, *, stale_after: float, syncs: bool) -> None:
        self.m, self.db, self.stale_after, self.syncs = metrics, db, stale_after, syncs

    def collect(self) -> Iterator[Metric]:
        for part in (self._alarms, self._nodes, self._printers, self._environment, self._outbox, self._bus):
            try:
                yield from part()
            except Exception:  # one broken source must not blank the whole page
                log.exception("metrics: %s failed", part.__name__)

    def _alarms(self) -> Iterator[Metric]:
        if self.m.alarms is not None:
            active = self.m.alarms.active()
        else:
            active = list(self.db["alarms"].rows_where("state LIKE 'ACTIVE%'")) if self.db["alarms"].exists() else []
        counts = {(s, st): 0 for s in SEVERITIES for st in ACTIVE_STATES}
        for alarm in active:
            key = (alarm["severity"], alarm["state"])
            counts[key] = counts.get(key, 0) + 1
        g = GaugeMetricFamily("hall_active_alarms", "Active alarms by severity and state", labels=["severity", "state"])
        for (severity, state), n in sorted(counts.items()):
            g.add_metric([severity, state], n)
        yield g

    def _nodes(self) -> Iterator[Metric]:
        views = Registry(self.db, stale_after=self.stale_after).nodes()
        by_state: dict[tuple[str, str], int] = {}
        up = GaugeMetricFamily("hall_node_up", "1 while the node is ready and not stale", labels=["node", "kind"])
        seen = GaugeMetricFamily("hall_node_last_seen_timestamp_seconds", "When the node was last heard from",
                                 labels=["node"])
        for v in views:
            state = "stale" if v.stale else v.state
            by_state[(v.kind, state)] = by_state.get((v.kind, state), 0) + 1
            up.add_metric([v.node, v.kind], 1 if v.online else 0)
            if v.last_seen is not None:
                seen.add_metric([v.node], v.last_seen)
        nodes = GaugeMetricFamily("hall_nodes", "Nodes by kind and state (stale: ready but silent)",
                                  labels=["kind", "state"])
        for (kind, state), n in sorted(by_state.items()):
            nodes.add_metric([kind, state], n)
        yield from (nodes, up, seen)

    def _printers(self) -> Iterator[Metric]:
        service = self.m.printing
        if service is None:
            return
        online = GaugeMetricFamily("hall_printer_online", "1 while the printer answers", labels=["printer"])
        can = GaugeMetricFamily("hall_printer_can_print", "1 while the printer can print", labels=["printer"])
        paper = GaugeMetricFamily("hall_printer_paper", "1 for the printer's current paper level",
                                  labels=["printer", "paper"])
        for printer_id, worker in sorted(service.workers.items()):
            status = worker.status
            if status is None:
                continue  # not polled yet: unknown is not "cannot print"
            online.add_metric([printer_id], 1 if status.online else 0)
            can.add_metric([printer_id], 1 if status.can_print else 0)
            for level in PAPER_LEVELS:
                paper.add_metric([printer_id, level], 1 if status.paper == level else 0)
        yield from (online, can, paper)

    def _environment(self) -> Iterator[Metric]:
        env = self.m.environment
        if env is None:
            return
        if hasattr(env, "latest"):
            latest: dict[tuple[str, str], float] = env.latest()
        else:
            latest = {(n["node"], r["reading"]): r["value"] for n in env.snapshot() for r in n["readings"]}
        g = GaugeMetricFamily("hall_environment_reading", "Latest reading of each environment series",
                              labels=["node", "reading"])
        for (node, reading), value in sorted(latest.items()):
            g.add_metric([node, reading], float(value))
        yield g

    def _outbox(self) -> Iterator[Metric]:
        if not self.syncs:
            return
        status = outbox.status(self.db)
        yield GaugeMetricFamily("hall_outbox_depth", "Records waiting to be sent to the centre", value=status.depth)
        if status.oldest_age is not None:
            yield GaugeMetricFamily("hall_outbox_oldest_age_seconds", "Age of the oldest record waiting for the centre",
                                    value=status.oldest_age)

    def _bus(self) -> Iterator[Metric]:
        if self.m.bus is None:
            return
        yield CounterMetricFamily("hall_bus_messages_dropped", "Bus messages dropped as malformed or unhandled",
                                  value=self.m.bus.dropped)


class _Ingested(Collector):
    def __init__(self, metrics: EdgeMetrics) -> None:
        self.metrics = metrics

    def collect(self):  # type: ignore[no-untyped-def]
        yield self.metrics.ingested_family()
