"""The one adapter between the hall and paho-mqtt 2.x (MQTT 5).

Everything a hall process needs from the bus goes through :class:`BusClient`:

* a Last Will that marks the node ``lost`` with its session counter, and a retained
  ``ready`` state plus a birth message on every connect;
* subscriptions registered once and made again in ``on_connect``, so a reconnect
  resubscribes by itself;
* ``connect_async`` + ``loop_start`` with reconnect backoff, so a process starts even while
  the broker is down;
* callbacks that only hand messages to a worker thread: no database, printer or network
  I/O ever runs on paho's network thread;
* payloads validated against the contract on receipt; a bad one is logged with its topic
  and dropped, the subscriber keeps working;
* QoS 1 messages acknowledged only after the handler returned (paho's manual ack), so a
  node with a broker session (``session_expiry`` > 0, as the edge agent has) that is killed
  mid-handler gets the message again when it comes back;
* MQTT 5 request/response (response topic + correlation data, with a timeout).

Example::

    bus = BusClient(hall_id="h1", node_id="kiosk-01", kind="kiosk",
                    host="127.0.0.1", port=1883, password="...", session=3)
    bus.subscribe(contract.QUEUE_STATE.filter(hall="h1"), on_queue_state)
    bus.start()
    result = bus.request("ping", {})        # answered by the edge agent
    bus.close()

Handler signatures: ``handler(msg: BusMessage) -> None`` for subscriptions and
``handler(requester: str, args: dict) -> dict`` for :meth:`BusClient.serve`.
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hall_common.errors import BusTimeout, PayloadError, RequestFailed

from . import contract
from .methods import METHODS, Method
from .payloads import Birth, NodeState, Request, Response, ResponseError

log = logging.getLogger(__name__)

MessageHandler = Callable[["BusMessage"], None]
RequestHandler = Callable[[str, Any], Any]
"""``handler(requester, args)``: ``args`` is the method's argument model (see
:mod:`hall_common.bus.methods`); the answer is its answer model or a dict that fits it."""


@dataclass(frozen=True)
class BusMessage:
    """A validated message, as handed to a subscription handler."""

    topic: str
    family: contract.TopicFamily
    parts: dict[str, str]
    payload: Any
    retain: bool
    properties: Properties | None = None


@dataclass
class _Subscription:
    filter: str
    qos: int
    handler: MessageHandler
    inline: bool = False


_UNKNOWN = object()
RECONNECT_MAX_S = 4
"""Longest pause between reconnection attempts to the broker."""


@dataclass(frozen=True)
class _Route:
    family: contract.TopicFamily
    parts: dict[str, str]
    handlers: list[MessageHandler]
    inline: bool
    """Every handler of this topic runs on the network thread (see ``subscribe(inline=True)``)."""


class BusClient:
    """A hall node's connection to the hall broker. See the module docstring.

    :param hall_id: the hall this node belongs to.
    :param node_id: the node's id, also its broker user name and MQTT client id: one value,
        as the broker makes every client's id its user name (``use_username_as_clientid``),
        so no login can take over another node's id.
    :param password: the node's broker password.
    :param kind: what the node is (``edge``, ``kiosk``, ``display`` ...), sent in the birth.
    :param session: a counter that grows on every process start; sent in the will and the
        birth so subscribers can ignore a stale will.
    :param session_expiry: seconds the broker keeps this node's subscriptions and queued
        QoS 1 messages while it is away (0: forget at once).
    :param availability: ``hall`` for our own nodes ($state + birth); ``esphome`` for the
        node simulators, which announce themselves as ESPHome does (``status`` online/offline).
    :param ca_file: the CA certificate that signed the broker's: connect over TLS (a broker
        set up with ``hall broker-config --tls``); None: plain MQTT (``hall up`` on loopback).
    """

    def __init__(
        self,
        *,
        hall_id: str,
        node_id: str,
        kind: str,
        host: str,
        port: int,
        password: str,
        session: int,
        sw: str = "0",
        config_version: int | None = None,
        keepalive: int = 30,
        session_expiry: int = 0,
        inbox_size: int = 10_000,
        availability: str = "hall",
        ca_file: Path | None = None,
    ) -> None:
        self.hall_id = hall_id
        self.node_id = node_id
        self.kind = kind
        self.session = session
        self.sw = sw
        self.config_version = config_version
        self._host, self._port, self._keepalive = host, port, keepalive
        self._session_expiry = session_expiry
        self._subs: list[_Subscription] = []
        self._connect_hooks: list[Callable[[], None]] = []
        self._subs_lock = threading.Lock()
        # topic -> (family, levels, handlers): telemetry comes on a few hundred topics at up
        # to hundreds of messages a second; matching each against every family and every
        # subscription again was most of the bus worker's time (bench/telemetry_ingest.py).
        self._routes: dict[str, _Route | None] = {}
        self._full_logged = 0.0
        self._pending: dict[bytes, Future[Response]] = {}
        self._pending_lock = threading.Lock()
        self._inbox: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue(maxsize=inbox_size)
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._suback_pending: set[int] = set()
        self._suback_lock = threading.Lock()
        self._early_subacks: set[int] = set()
        self._closing = False
        self._worker: threading.Thread | None = None
        self.reply_topic = contract.REPLY.topic(hall=hall_id, node=node_id)
        self.refused: str | None = None
        """Why the broker last refused to connect us (bad password, not authorised), if it did."""
        self.dropped = 0
        """Messages dropped as malformed or unhandled since start (for metrics and tests)."""

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=node_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.username_pw_set(node_id, password)
        if ca_file is not None:
            # The broker's certificate must chain to this CA and name the host connected to;
            # the password then never crosses the hall network in the clear.
            client.tls_set_context(ssl.create_default_context(cafile=str(ca_file)))
        self._availability = availability
        if availability == "esphome":
            client.will_set(contract.ESPHOME_STATUS.topic(hall=hall_id, node=node_id), b"offline", qos=1, retain=True)
        else:
            will = NodeState(state="lost", session=session)
            client.will_set(
                contract.NODE_STATE.topic(hall=hall_id, node=node_id),
                contract.NODE_STATE.encode(will),
                qos=1,
                retain=True,
            )
        # Capped low: the broker is on the hall's own network, and a kiosk must be back within
        # seconds of the broker (docs/reliability.md, Network).
        client.reconnect_delay_set(min_delay=1, max_delay=RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.enable_logger(logging.getLogger("paho"))
        self._client = client

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker and the network loop; returns at once, connects in the background."""
        self._worker = threading.Thread(target=self._drain, name=f"bus-{self.node_id}", daemon=True)
        self._worker.start()
        props = None
        clean_start: Any = True
        if self._session_expiry:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self._session_expiry
            clean_start = False
        self._client.connect_async(
            self._host, self._port, keepalive=self._keepalive, clean_start=clean_start, properties=props
        )
        self._client.loop_start()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Block until connected and every subscription acknowledged by the broker (True),
        or the timeout passed (False). A request sent to this node after it returns cannot
        be lost for want of a subscription."""
        deadline = time.monotonic() + timeout
        return self._connected.wait(timeout) and self._subscribed.wait(max(0.0, deadline - time.monotonic()))

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def close(self, timeout: float = 2.0) -> None:
        """Say ``disconnected`` (a clean stop is not ``lost``), then stop the loop and worker."""
        self._closing = True
        if self._connected.is_set() and self._availability == "esphome":
            self.publish(contract.ESPHOME_STATUS, False, hall=self.hall_id, node=self.node_id).wait_for_publish(timeout)
        elif self._connected.is_set():
            info = self.publish(
                contract.NODE_STATE,
                NodeState(state="disconnected", session=self.session, ts=time.time()),
                hall=self.hall_id,
                node=self.node_id,
            )
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.warning("bus: could not publish disconnected state: %s", exc)
        self._client.disconnect()
        # paho's loop thread logs an error if it spins once more after the socket closed.
        self._client.disable_logger()
        self._client.loop_stop()
        self._inbox.put(None)
        if self._worker is not None:
            self._worker.join(timeout)
        self._connected.clear()

    # -- publishing --------------------------------------------------------------------------

    def publish(
        self,
        family: contract.TopicFamily,
        value: Any,
        *,
        properties: Properties | None = None,
        **parts: str,
    ) -> mqtt.MQTTMessageInfo:
        """Publish ``value`` on ``family`` with the family's QoS and retain rule."""
        topic = family.topic(**parts)
        return self._client.publish(
            topic, family.encode(value), qos=family.qos, retain=family.retain, properties=properties
        )

    def publish_raw(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Publish bytes on a topic as is. Only for tests and simulators that must send
        what a broken or foreign publisher would; application code uses :meth:`publish`."""
        return self._client.publish(topic, payload, qos=qos, retain=retain)

    # -- subscribing -------------------------------------------------------------------------

    def subscribe(self, topic_filter: str, handler: MessageHandler, *, qos: int = 1, inline: bool = False) -> None:
        """Register a subscription; it is made now if connected and again on every connect.

        ``inline=True`` runs ``handler`` on paho's network thread instead of the bus worker:
        for telemetry, hundreds of messages a second, where handing each to the worker cost
        more than handling it. Such a handler must be quick, never block and be safe to run
        beside the worker's handlers (it keeps to memory and its own locks). A topic is
        handled inline only if every handler that matches it is inline."""
        with self._subs_lock:
            self._subs.append(_Subscription(topic_filter, qos, handler, inline))
            self._routes.clear()
        if self._connected.is_set():
            # Counted like the subscriptions made on connect, so wait_connected() after a
            # late serve() or subscribe() returns only once the broker has it in place.
            result, mid = self._client.subscribe(topic_filter, qos=qos)
            if result == mqtt.MQTT_ERR_SUCCESS and mid is not None:
                with self._suback_lock:
                    if mid in self._early_subacks:
                        self._early_subacks.discard(mid)
                    else:
                        self._suback_pending.add(mid)
                        self._subscribed.clear()

    def on_connected(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` after every (re)connect, on the network thread: it may only publish
        (say, retained state that must be there again), never block."""
        self._connect_hooks.append(hook)

    def serve(self, method: str, handler: RequestHandler) -> None:
        """Answer requests ``method`` from any node of the hall (the edge agent does this).

        The arguments are checked against the method's model in
        :data:`hall_common.bus.methods.METHODS` before ``handler`` runs (``bad_request``
        naming the field when they do not fit), and the answer against its answer model."""
        spec = METHODS.get(method)
        if spec is None:
            raise ValueError(f"{method!r} is not a request method of the contract (hall_common/bus/methods.py)")
        topic_filter = contract.REQUEST.filter(hall=self.hall_id, method=method)

        def on_request(msg: BusMessage) -> None:
            self._answer(msg, spec, handler)

        self.subscribe(topic_filter, on_request, qos=1)

    def request(self, method: str, args: dict[str, Any] | None = None, *, timeout: float = 5.0) -> dict[str, Any]:
        """Send a request and wait for its response.

        Raises :class:`BusTimeout` when no answer comes in time (the message also expires at
        the broker, so a responder that returns later does not act on it), and
        :class:`RequestFailed` when the responder answers with an error.
        """
        if method not in METHODS:
            raise ValueError(f"{method!r} is not a request method of the contract (hall_common/bus/methods.py)")
        correlation = uuid.uuid4().bytes
        future: Future[Response] = Future()
        with self._pending_lock:
            self._pending[correlation] = future
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self.reply_topic
        props.CorrelationData = correlation
        props.MessageExpiryInterval = max(1, int(timeout + 0.999))
        try:
            self.publish(
                contract.REQUEST,
                Request(args=args or {}),
                properties=props,
                hall=self.hall_id,
                node=self.node_id,
                method=method,
            )
            try:
                response = future.result(timeout)
            except FutureTimeout:
                raise BusTimeout(f"no answer to {method} within {timeout:g} s") from None
        finally:
            with self._pending_lock:
                self._pending.pop(correlation, None)
        if not response.ok:
            err = response.error or ResponseError(code="error")
            raise RequestFailed(err.code, err.message)
        return response.result or {}

    # -- paho callbacks: hand off only -------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.refused = str(reason)
            log.error(
                "bus: broker %s:%s refused node %s: %s (check the node's broker password and the ACL)",
                self._host, self._port, self.node_id, reason,
            )
            return
        sock = client.socket()
        if sock is not None:
            # paho leaves Nagle on: a response and an ack written back to back would wait for
            # the peer's delayed ACK (about 40 ms each) instead of leaving at once.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        subs = [(self.reply_topic, 1)]
        with self._subs_lock:
            subs += [(s.filter, s.qos) for s in self._subs]
        with self._suback_lock:
            self._subscribed.clear()
            self._suback_pending = set()
            self._early_subacks.clear()
            # Acknowledgements come on this same thread, after this callback: none is early.
            for topic_filter, qos in subs:
                result, mid = client.subscribe(topic_filter, qos=qos)
                if result == mqtt.MQTT_ERR_SUCCESS and mid is not None:
                    self._suback_pending.add(mid)
            if not self._suback_pending:
                self._subscribed.set()
        self._announce(client)
        self.refused = None
        self._connected.set()
        for hook in self._connect_hooks:
            try:
                hook()
            except Exception:
                log.exception("bus: connect hook %s failed", hook)
        log.info("bus: connected", extra={"broker": f"{self._host}:{self._port}", "session": self.session})

    def _announce(self, client: mqtt.Client) -> None:
        if self._availability == "esphome":
            client.publish(contract.ESPHOME_STATUS.topic(hall=self.hall_id, node=self.node_id), b"online", qos=1, retain=True)
            return
        client.publish(
            contract.NODE_STATE.topic(hall=self.hall_id, node=self.node_id),
            contract.NODE_STATE.encode(NodeState(state="ready", session=self.session, ts=time.time())),
            qos=1,
            retain=True,
        )
        birth = Birth(
            session=self.session, kind=self.kind, sw=self.sw,  # type: ignore[arg-type]
            config_version=self.config_version, ts=time.time(),
        )
        client.publish(
            contract.BIRTH.topic(hall=self.hall_id, node=self.node_id),
            contract.BIRTH.encode(birth), qos=1, retain=True,
        )

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        with self._suback_lock:
            if mid in self._suback_pending:
                self._suback_pending.discard(mid)
            else:  # acknowledged before subscribe() could count it
                self._early_subacks.add(mid)
            if not self._suback_pending:
                self._subscribed.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._connected.clear()
        self._subscribed.clear()
        if not self._closing:
            log.warning("bus: disconnected (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        topic = msg.topic
        if topic == self.reply_topic:
            self._resolve(msg)
            return
        route = self._route(topic)
        if route is not None and route.inline:
            try:
                self._dispatch(msg, route)
            finally:
                if msg.qos > 0:
                    self._client.ack(msg.mid, msg.qos)
            return
        try:
            self._inbox.put_nowait(msg)
        except queue.Full:
            # Not acked: for QoS 1 the broker sends it again after we reconnect. Logged at
            # most every 10 s: a flood must not also flood the log from the network thread.
            self.dropped += 1
            now = time.monotonic()
            if now - self._full_logged > 10:
                self._full_logged = now
                log.error("bus: inbox full, messages dropped (%d in all so far; this one on %s)", self.dropped, msg.topic)

    def _resolve(self, msg: mqtt.MQTTMessage) -> None:
        self._client.ack(msg.mid, msg.qos)
        correlation = getattr(msg.properties, "CorrelationData", None)
        with self._pending_lock:
            future = self._pending.get(correlation) if correlation else None
        if future is None:
            log.info("bus: late or unknown response on %s ignored", msg.topic)
            return
        try:
            future.set_result(contract.REPLY.parse(msg.payload))
        except PayloadError as exc:
            future.set_result(Response(ok=False, error=ResponseError(code="bad_response", message=str(exc))))

    # -- worker ------------------------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            msg = self._inbox.get()
            if msg is None:
                return
            try:
                self._dispatch(msg)
            finally:
                if msg.qos > 0:
                    self._client.ack(msg.mid, msg.qos)

    def _route(self, topic: str) -> _Route | None:
        """The family, named levels and handlers of ``topic``, worked out once per topic
        (looked up without the lock: a dict read is atomic, and a route is never changed,
        only dropped all together when a subscription is added)."""
        route = self._routes.get(topic, _UNKNOWN)
        if route is not _UNKNOWN:
            return route  # type: ignore[return-value]
        with self._subs_lock:
            if topic in self._routes:
                return self._routes[topic]
            found = contract.match(topic)
            route = None
            if found is not None:
                subs = [s for s in self._subs if mqtt.topic_matches_sub(s.filter, topic)]
                route = _Route(found[0], found[1], [s.handler for s in subs], bool(subs) and all(s.inline for s in subs))
            if len(self._routes) > 10_000:  # topics a node makes up must not grow this without end
                self._routes.clear()
            self._routes[topic] = route
            return route

    def _dispatch(self, msg: mqtt.MQTTMessage, route: _Route | None = None) -> None:
        topic = msg.topic  # paho decodes it on every access
        route = route or self._route(topic)
        if route is None:
            self.dropped += 1
            log.warning("bus: message on %s is not in the contract; dropped", topic)
            return
        family, parts = route.family, route.parts  # shared by every message on the topic: handlers only read it
        try:
            value = family.parse(msg.payload)
        except PayloadError as exc:
            self.dropped += 1
            log.warning("bus: malformed payload on %s dropped: %s", msg.topic, exc)
            if family is contract.REQUEST:
                # Answer at once rather than leave the requester waiting for its timeout.
                target = self._reply_target(msg.topic, parts["node"], getattr(msg, "properties", None))
                if target is not None:
                    self._send_response(target, Response(ok=False, error=ResponseError(code="bad_request", message=str(exc)[:500])))
            return
        bus_msg = BusMessage(topic, family, parts, value, bool(msg.retain), getattr(msg, "properties", None))
        for handler in route.handlers:
            try:
                handler(bus_msg)
            except Exception:
                log.exception("bus: handler %s failed on %s", getattr(handler, "__qualname__", handler), msg.topic)

    def _answer(self, msg: BusMessage, spec: Method, handler: RequestHandler) -> None:
        target = self._reply_target(msg.topic, msg.parts["node"], msg.properties)
        if target is not None:
            self._send_response(target, self._respond(msg, spec, handler))

    @staticmethod
    def _respond(msg: BusMessage, spec: Method, handler: RequestHandler) -> Response:
        """The handler's answer, or the error the requester is told (see :meth:`Method.call`);
        a handler that fails for any other reason is logged and answered ``internal``."""
        try:
            return Response(ok=True, result=spec.call(handler, msg.parts["node"], msg.payload.args))
        except RequestFailed as exc:
            return Response(ok=False, error=ResponseError(code=exc.code, message=exc.message[:500]))
        except Exception:
            log.exception("bus: request handler for %s failed", msg.topic)
            return Response(ok=False, error=ResponseError(code="internal", message="internal error"))

    def _reply_target(self, topic: str, requester: str, props: Properties | None) -> tuple[str, bytes] | None:
        """Where to answer a request, or None (logged) if it names anything but the
        requester's own reply topic: otherwise a kiosk could make the edge publish on any
        topic it names (say, the queue state). Checked before the handler runs."""
        response_topic = getattr(props, "ResponseTopic", None)
        correlation = getattr(props, "CorrelationData", None)
        if response_topic != contract.REPLY.topic(hall=self.hall_id, node=requester) or not correlation:
            self.dropped += 1
            log.warning("bus: request on %s with response topic %r refused", topic, response_topic)
            return None
        return response_topic, correlation

    def _send_response(self, target: tuple[str, bytes], response: Response) -> None:
        out = Properties(PacketTypes.PUBLISH)
        out.CorrelationData = target[1]
        self._client.publish(target[0], contract.REPLY.encode(response), qos=1, properties=out)
