"""What the two ESPHome node simulators share: the node's life on the bus (publish, go
silent, come back) and a small HTTP control server to drive it.

A simulated node publishes what its ESPHome configuration in ``firmware_configs/esphome/``
publishes, through :class:`~hall_common.bus.client.BusClient` with ``availability="esphome"``
(``status`` online, will ``offline``). "Silent" is a dead node: the simulator leaves the
broker without a clean goodbye, so the broker publishes the node's will (``offline``,
retained), and nothing more comes until it is told to come back, when it connects afresh
(a rebooted node: ``online``, then its current states, as ESPHome does on every connect).

The control server answers ``GET /`` with a page showing the node's state and a form per
action, ``GET /state`` with the state as JSON, and ``POST /<action>`` with parameters in
the query string or a form body::

    curl -X POST 'http://127.0.0.1:18807/set?co2=1500'
    curl -d on=1 http://127.0.0.1:18807/silent
"""

from __future__ import annotations

import html
import logging
import threading
import time
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from hall_common.bus import contract
from hall_common.bus.client import BusClient

from .http_control import ControlHandler, HttpControl

log = logging.getLogger(__name__)

Action = Callable[[dict[str, str]], None]
"""An action of the control server: takes the request's parameters, raises ValueError to
answer 400 with the message."""

DISCONNECT_WITH_WILL = 0x04
"""MQTT 5 DISCONNECT reason "Disconnect with Will Message": the broker publishes the will,
exactly as it does for a node that lost power, but at once instead of after 1.5 keepalives."""


def flag(params: dict[str, str], name: str) -> bool:
    """A 1/0 (true/false, on/off) parameter; ValueError names the parameter when it is neither."""
    value = params.get(name, "").lower()
    if value in ("1", "true", "on"):
        return True
    if value in ("0", "false", "off"):
        return False
    raise ValueError(f"{name} is 1 or 0")


def number(params: dict[str, str], name: str) -> float:
    """A finite number parameter."""
    try:
        value = float(params[name])
    except (KeyError, ValueError):
        raise ValueError(f"{name} must be a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be a finite number")
    return value


class SimNode:
    """A simulated ESPHome node's connection to the hall bus: publish while alive, vanish
    (the broker sends the will) while silent.

    :param make_bus: builds a new, unstarted bus client for the node (``node_bus(...,
        availability="esphome")``); called at start and on every return from silence,
        because a closed client cannot connect again.
    :param interval: seconds between two :meth:`tick` calls in :meth:`run`.
    """

    def __init__(self, make_bus: Callable[[], BusClient], *, interval: float) -> None:
        self._make_bus = make_bus
        self.interval = interval
        self.lock = threading.Lock()
        """Guards the readings a subclass keeps; never held while publishing or waiting."""
        self._bus: BusClient | None = self._new_bus()
        self.node_id = self._bus.node_id
        self._silent = False
        self._life = threading.Lock()  # one death or return at a time
        self._stop = threading.Event()

    # -- what a subclass provides -------------------------------------------------------------

    def publish_all(self) -> None:
        """Publish every current state (on each connect, as ESPHome does)."""
        raise NotImplementedError

    def tick(self) -> None:
        """Called every ``interval`` seconds: advance and publish periodic readings."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The node's state for the control server."""
        return {"node": self.node_id, "connected": self.connected, "silent": self._silent}

    # -- life ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        bus = self._bus
        return bus is not None and bus.connected and not self._silent

    @property
    def silent(self) -> bool:
        return self._silent

    def start(self) -> None:
        """Connect (in the background; the node publishes ``online`` and its states once up)."""
        if self._bus is not None:
            self._bus.start()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        bus = self._bus
        return bus is not None and bus.wait_connected(timeout)

    def run(self) -> None:
        """Tick every ``interval`` seconds until :meth:`stop`."""
        while not self._stop.wait(self.interval):
            self.tick()

    def stop(self) -> None:
        """End :meth:`run` (safe in a signal handler); :meth:`close` then leaves the broker."""
        self._stop.set()

    def close(self) -> None:
        """Leave the broker cleanly (``offline``, as ESPHome's shutdown message); no return."""
        self._stop.set()
        with self._life:
            bus, self._bus = self._bus, None
        if bus is not None:
            bus.close()

    def set_silent(self, silent: bool) -> None:
        """Go silent (die: the broker publishes the will ``offline``) or come back (reboot)."""
        with self._life:
            if silent == self._silent or self._stop.is_set():
                return
            self._silent = silent
            if silent:
                bus, self._bus = self._bus, None
                if bus is not None:
                    self._vanish(bus)
                log.info("sim: silent, the broker says offline for us")
            else:
                self._bus = self._new_bus()
                self._bus.start()
                log.info("sim: back, reconnecting")

    def publish(self, family: contract.TopicFamily, value: Any, **levels: str) -> None:
        """Publish on one of the node's own topics, unless it is silent or not connected
        (a node without a connection publishes nothing; ESPHome sends states on connect)."""
        bus = self._bus
        if self._silent or bus is None or not bus.connected:
            return
        bus.publish(family, value, hall=bus.hall_id, node=bus.node_id, **levels)

    def _new_bus(self) -> BusClient:
        bus = self._make_bus()
        bus.on_connected(self.publish_all)
        return bus

    def _vanish(self, bus: BusClient, timeout: float = 2.0) -> None:
        # BusClient only knows the clean stop (it says offline itself); a dead node must let
        # the broker speak for it, so ask for the will with the MQTT 5 reason code, then
        # release the client. The paho client is reached through BusClient's private
        # attribute: nothing else in the hall may vanish like this.
        if bus.connected:
            paho = bus._client  # noqa: SLF001
            paho.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=DISCONNECT_WITH_WILL))
            deadline = time.monotonic() + timeout
            while bus.connected and time.monotonic() < deadline:
                time.sleep(0.01)
            # close() disconnects again, which paho would log as an error: it is already gone.
            paho.disable_logger()
        bus.close(timeout)


class ControlServer(HttpControl):
    """A tiny HTTP server that drives a simulated node (``hall up`` gives each one a port).

    :param node: the node, for ``describe()`` (shown by ``GET /`` and ``GET /state``).
    :param actions: ``POST /<name>`` runs ``actions[name](params)``.
    :param forms: for the page: action name → (label, {parameter: suggested value}).
    """

    def __init__(self, node: SimNode, actions: dict[str, Action], *, forms: dict[str, tuple[str, dict[str, str]]],
                 title: str, host: str = "127.0.0.1", port: int = 0) -> None:
        page = _page_renderer(title, forms)

        class Handler(ControlHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = urlsplit(self.path).path
                if path == "/state":
                    self.send_json(200, node.describe())
                elif path == "/":
                    self.send(200, "text/html; charset=utf-8", page(node.describe()).encode())
                else:
                    self.send_json(404, {"error": f"no page {path}"})

            def do_POST(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                action = actions.get(url.path.strip("/"))
                if action is None:
                    self.send_json(404, {"error": f"no action {url.path}: use one of {sorted(actions)}"})
                    return
                body = self.form_body()
                # Empty fields of the page's forms are left out, so a form sets only what was typed.
                params = {k: v[-1] for k, v in {**parse_qs(url.query), **parse_qs(body)}.items() if v[-1].strip()}
                try:
                    action(params)
                except ValueError as exc:
                    self.send_json(400, {"error": str(exc)})
                    return
                if "text/html" in (self.headers.get("Accept") or ""):
                    # A person pressed a button on the page: show the page again.
                    self.send_response(303)
                    self.send_header("Location", "/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_json(200, node.describe())

        super().__init__(Handler, host=host, port=port)


def _page_renderer(title: str, forms: dict[str, tuple[str, dict[str, str]]]) -> Callable[[dict[str, Any]], str]:
    """The control page: the state as a table, then one small form per action."""
    esc = html.escape

    def render(state: dict[str, Any]) -> str:
        rows = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>" for k, v in state.items())
        blocks = []
        for name, (label, fields) in forms.items():
            inputs = " ".join(f'<label>{esc(f)} <input name="{esc(f)}" value="{esc(v)}" size="6"></label>'
                              for f, v in fields.items())
            blocks.append(f'<form method="post" action="/{esc(name)}"><b>{esc(label)}</b> {inputs} '
                          f"<button>{esc(name)}</button></form>")
        return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title></head>'
                f"<body><h1>{esc(title)}</h1><table>{rows}</table>{''.join(blocks)}"
                "<p>Or: <code>curl -X POST 'URL/ACTION?name=value'</code>; <code>GET /state</code> is JSON.</p>"
                "</body></html>")

    return render


def run_node(part: str, sim_class: type[SimNode], controls: Callable[..., ControlServer], *, kind: str, sw: str,
             argv: list[str] | None = None) -> None:
    """The ``main`` of a node simulator: its configuration, its bus (ESPHome's birth and
    will), its control server beside the broker (``hall up``), until SIGTERM or SIGINT."""
    import signal

    from hall_common.config import SensorSimConfig
    from hall_common.runner import node_bus, start_part

    config = start_part(SensorSimConfig, part, argv)
    sim = sim_class(lambda: node_bus(config, kind=kind, sw=sw, availability="esphome"), interval=config.interval)
    signal.signal(signal.SIGTERM, lambda *_: sim.stop())
    signal.signal(signal.SIGINT, lambda *_: sim.stop())
    sim.start()
    server = controls(sim, host=config.broker.host, port=config.control_port) if config.control_port else None
    if server is not None:
        server.start()
        log.info("control server on %s", server.url)
    try:
        sim.run()
    finally:
        if server is not None:
            server.stop()
        sim.close()
