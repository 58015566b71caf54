"""A hall in one test process, with real parts: the broker fixture's mosquitto, the real
EdgeAgent, the central server and the kiosk served over HTTP by waitress on free ports."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from waitress.server import create_server

from hall_common.config import CentralConfig, EdgeConfig, KioskConfig


class Served:
    """A WSGI app on a free port, in a daemon thread, until ``stop()``; or on the waitress
    ``server`` given, made for ``app`` as a part makes it (``hall_common.web.make_server``)."""

    def __init__(self, app: Flask, *, threads: int = 4, server: Any = None) -> None:
        self.app = app
        self.server = server or create_server(app, host="127.0.0.1", port=0, threads=threads)
        self.url = f"http://127.0.0.1:{self.server.effective_port}/"
        self._stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError):
            # waitress's loop finds its sockets closed under it: that is how it stops.
            if not self._stopping:
                raise

    def stop(self) -> None:
        """Stop the way a hall part does, and make sure no request outlives the server:
        long polls are woken (their services' ``close``), running requests are waited for,
        and only then are the sockets closed. A request still running after close would
        write waitress's wake-up byte into a file descriptor number the next test reuses
        (a SQLite file, a PostgreSQL socket)."""
        self._stopping = True
        closer = getattr(self.app.extensions.get("payments"), "close", None)
        if closer is not None:
            closer()
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=10)
        self.server.close()


SETTINGS: dict[str, Any] = {
    "info": {
        "address": "幸福里小区 3 号楼一层", "service_phone": "028-8765 4321", "complaint_phone": "028-8765 4300",
        "supervision_phone": "12345", "duty_phone": "028-8765 4399",
        "conveniences": [
            {"name_zh": "资料打印/复印", "name_en": "Printing and copying"},
            {"name_zh": "手机充电", "name_en": "Phone charging"},
            {"name_zh": "物品寄存", "name_en": "Left luggage", "hours": "08:30-17:30"},
            {"name_zh": "快递代收", "name_en": "Parcel collection", "available": False},
        ],
    },
    "hours": {
        "after_hours_phone": "028-8765 4399",
        "online_channels": ["微信公众号：幸福里物业"],
        "periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}],
    },
}


STAFF_PASSWORD = "correct horse 1"
"""The password of the ``staff`` user of :meth:`MiniHall.console`."""


@dataclass
class MiniHall:
    broker: Any
    tmp: Path
    served: list[Served] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)
    centres: list[Served] = field(default_factory=list)
    """The central servers among ``served``: they stop last, after the edge that talks to them."""

    def central(self, payments: dict[str, Any] | None = None) -> Served:
        import central_sync.server

        cfg = CentralConfig(data_dir=self.tmp / "central", database_url=f"sqlite:///{self.tmp}/central.db", http={"port": 1},
                            demo=True, **({"payments": payments} if payments else {}))
        s = Served(central_sync.server.create_app(cfg))
        self.served.append(s)
        self.centres.append(s)
        return s

    def registered_centre(self, payments: dict[str, Any] | None = None) -> tuple[Served, Any, str]:
        """The central server with this hall registered: the server, a connection to its
        database (closed with the hall) and an edge token to hand to :meth:`edge`."""
        from central_sync.server import credentials
        from central_sync.store import Store

        centre = self.central(payments)
        store = Store.connect(f"sqlite:///{self.tmp}/central.db")
        self.closers.append(store.close)
        credentials.register_hall(store, self.broker.hall, "测试大厅")
        return centre, store, credentials.issue(store, self.broker.hall, "edge")

    def printer(self, name: str | None = "paper", **kw: Any) -> Any:
        """A virtual ESC/POS printer on a free port keeping its jobs in ``tmp/name`` (none
        kept if ``name`` is None); it stops after the parts started after it (start it
        before the edge that prints to it)."""
        from simulators.printer import VirtualPrinter

        printer = VirtualPrinter(port=0, out_dir=None if name is None else self.tmp / name, **kw)
        printer.start()
        self.closers.append(printer.stop)
        return printer

    def edge(self, centre_url: str | None = None, token: str | None = None, printers: list[dict] | None = None,
             printing: dict[str, Any] | None = None, queue: dict[str, Any] | None = None, **extra: Any):
        from edge_agent.agent import EdgeAgent

        pw = self.tmp / "edge.pw"
        pw.write_text(self.broker.passwords["edge"])
        centre: dict[str, Any] | None = None
        if centre_url:
            centre = {"url": centre_url}
            if token:
                (self.tmp / "edge.token").write_text(token)
                centre["token_file"] = self.tmp / "edge.token"
        cfg = EdgeConfig(
            hall_id=self.broker.hall, hall_name="测试大厅", node_id="edge", data_dir=self.tmp / "edge",
            broker={"host": self.broker.host, "port": self.broker.port, "password_file": pw}, http={"port": 1},
            centre=centre, printers=printers or [], printing={"poll_s": 0.3, **(printing or {})},
            queue=queue or {}, **extra,
        )
        agent = EdgeAgent(cfg)
        if agent.sync.watch is not None:
            agent.sync.watch.every = 0.3
        if agent.sync.worker is not None:
            agent.sync.worker.idle_wait = 0.2
        agent.handover.timer.every = 0.2  # the handover's alarm follows a test's clock quickly
        agent.start()
        assert agent.bus.wait_connected(10)
        self.closers.append(agent.close)
        return agent

    def console(self, agent: Any, **services: Any) -> Served:
        """``agent``'s staff console with the ``services`` it shows (the fields of
        :class:`~edge_agent.services.EdgeServices`; all of the agent's when none are named),
        served over HTTP, with one user: ``staff`` / :data:`STAFF_PASSWORD`."""
        import edge_agent
        from edge_agent.services import EdgeServices
        from hall_common.config import BootstrapUser

        pw = self.tmp / "staff.pw"
        pw.write_text(STAFF_PASSWORD)
        config = agent.config.model_copy(update={"bootstrap_user": BootstrapUser(
            username="staff", password_file=pw, role="staff")})
        s = Served(edge_agent.create_app(config, services=EdgeServices(**services) if services else agent.services))
        self.served.append(s)
        return s

    def kiosk(self, settings: dict[str, Any] | None = None, test_config: dict[str, Any] | None = None,
              public_key: str | None = None) -> tuple[Served, Flask]:
        import kiosk
        from hall_common.bus.client import BusClient
        from kiosk.status import HallStatus

        pw = self.tmp / "kiosk.pw"
        pw.write_text(self.broker.passwords["kiosk-01"])
        cfg = KioskConfig(
            hall_id=self.broker.hall, hall_name="幸福里物业客户服务中心", node_id="kiosk-01", data_dir=self.tmp / "kiosk",
            broker={"host": self.broker.host, "port": self.broker.port, "password_file": pw}, http={"port": 1},
            settings=settings or SETTINGS,
        )
        bus = BusClient(hall_id=cfg.hall_id, node_id="kiosk-01", kind="kiosk", host=self.broker.host,
                        port=self.broker.port, password=self.broker.passwords["kiosk-01"], session=1)
        status = HallStatus(bus)
        app = kiosk.create_app(cfg, status, bus, test_config)
        if public_key:
            from kiosk.config_apply import ConfigApplier, printers_from

            app.extensions["config_applier"] = ConfigApplier(
                app, bus, public_key=public_key, state_path=self.tmp / "kiosk" / "applied-config.json",
                printers=printers_from(status))
        bus.start()
        assert bus.wait_connected(10)
        self.closers.append(bus.close)
        s = Served(app)
        self.served.append(s)
        return s, app

    def display(self, *, heartbeat_s: float = 0.2, **settings: Any) -> tuple[Served, Any]:
        """The board, following the bus as ``display-01``, with its voice. Its event streams
        speak every ``heartbeat_s`` when quiet, so one whose page was closed ends at once
        (and the server stops without waiting for it)."""
        import hall_display
        from hall_common.bus.client import BusClient
        from hall_common.config import DisplayConfig
        from hall_common.voice import Voice
        from hall_display.board import BoardState

        pw = self.tmp / "display.pw"
        pw.write_text(self.broker.passwords["display-01"])
        cfg = DisplayConfig(hall_id=self.broker.hall, hall_name="幸福里物业客户服务中心", node_id="display-01",
                            data_dir=self.tmp / "display", http={"port": 1},
                            broker={"host": self.broker.host, "port": self.broker.port, "password_file": pw}, **settings)
        bus = BusClient(hall_id=cfg.hall_id, node_id="display-01", kind="display", host=self.broker.host,
                        port=self.broker.port, password=self.broker.passwords["display-01"],
                        session=1)
        board = BoardState(voice=Voice(cfg.data_dir / "voice"), english=cfg.voice_en, announcement=cfg.announcement)
        board.follow(bus)
        bus.start()
        assert bus.wait_connected(10)
        self.closers.append(bus.close)
        s = Served(hall_display.create_app(cfg, board, {"HEARTBEAT_S": heartbeat_s}))
        self.served.append(s)
        return s, board

    def close(self) -> None:
        """Stop the hall's servers, close its parts in reverse order of their start, and stop
        the central server last (stopped before the edge, it would leave the sync worker's
        request hanging until its timeout). A fixture that must stop the hall before
        something else (a tmpfs) closes it itself; the ``mini`` fixture's close is then a
        no-op."""
        served, closers, centres = self.served, self.closers, self.centres
        self.served, self.closers, self.centres = [], [], []
        for s in served:
            if s not in centres:
                s.stop()
        for c in reversed(closers):
            c()
        for s in centres:
            s.stop()
