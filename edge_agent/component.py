"""One feature of the edge agent as one piece: its bus routes, its subscriptions, its
threads and its database connection, started and closed by the agent.

The agent (:mod:`edge_agent.agent`) is then a list: build each component, attach it to the
bus, start them in order, stop and close them in reverse. A component:

* answers request methods with handlers marked ``@route("method")``; the method's argument
  and answer models are in :data:`hall_common.bus.methods.METHODS`, so a handler gets its
  arguments already checked (``handler(requester, args_model)``) and returns a dict or the
  answer model;
* listens with handlers marked ``@subscribe(FAMILY)`` (``inline=True`` for the few that run
  on paho's network thread: memory only, never blocking);
* owns at most one SQLite connection, used under its own lock by every thread that touches
  it (bus worker, web threads of the staff console, its timer); the console reads through
  its locked methods, never through the connection;
* opens that connection with :meth:`Component.own_connection` and does its periodic work
  on timers made with :meth:`Component.every`: the base class starts, stops and closes them.

Example::

    class Echo(Component):
        name = "echo"

        @route("ping")
        def handle_ping(self, requester: str, args: NoArgs) -> dict:
            return {...}

    echo = Echo()
    echo.attach(bus)
    echo.answer("ping", "kiosk-01", {})   # as the bus would: arguments and answer checked
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

from hall_common.bus.contract import TopicFamily
from hall_common.bus.methods import METHODS
from hall_common.storage import open_database
from hall_common.threads import Periodic

if TYPE_CHECKING:
    import sqlite_utils

F = TypeVar("F", bound=Callable[..., Any])


def route(method: str) -> Callable[[F], F]:
    """Mark a handler as the answer to request ``method`` of the contract."""
    if method not in METHODS:
        raise ValueError(f"{method!r} is not a request method of the contract (hall_common/bus/methods.py)")

    def mark(fn: F) -> F:
        fn.bus_route = method  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass(frozen=True)
class Listen:
    """A subscription a handler asks for: the family (filtered to the agent's hall), its
    QoS (the family's own unless given) and whether it runs on the network thread."""

    family: TopicFamily
    qos: int | None = None
    inline: bool = False


def subscribe(family: TopicFamily, *, qos: int | None = None, inline: bool = False) -> Callable[[F], F]:
    """Mark a handler of messages on ``family`` in the component's hall (stack the mark for
    a handler of several families)."""

    def mark(fn: F) -> F:
        fn.bus_listens = (*getattr(fn, "bus_listens", ()), Listen(family, qos, inline))  # type: ignore[attr-defined]
        return fn

    return mark


class Component:
    """Base of the edge agent's features; see the module docstring."""

    name: ClassVar[str] = "component"

    def routes(self) -> dict[str, Callable[[str, Any], Any]]:
        """Request method → bound handler, from the ``@route`` marks."""
        return {fn.bus_route: getattr(self, name) for name, fn in self._marked("bus_route")}

    def listens(self) -> list[tuple[Listen, Callable[[Any], None]]]:
        """The ``@subscribe`` marks with their bound handlers."""
        return [(listen, getattr(self, name)) for name, fn in self._marked("bus_listens") for listen in fn.bus_listens]

    @classmethod
    def _marked(cls, mark: str) -> list[tuple[str, Any]]:
        """The functions of the class (and its bases) that carry ``mark``, by name; read from
        the class, so no property of an instance is evaluated on the way."""
        found: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            for name, fn in vars(klass).items():
                if callable(fn) and hasattr(fn, mark):
                    found[name] = fn
        return sorted(found.items())

    def attach(self, bus: Any) -> None:
        """Serve the routes and make the subscriptions on ``bus``, before it starts."""
        for method, handler in self.routes().items():
            bus.serve(method, handler)
        for listen, handler in self.listens():
            qos = listen.family.qos if listen.qos is None else listen.qos
            bus.subscribe(listen.family.filter(hall=bus.hall_id), handler, qos=qos, inline=listen.inline)

    def answer(self, method: str, requester: str, args: dict[str, Any]) -> dict[str, Any]:
        """Answer ``method`` for ``requester`` as the bus would, without the bus (for tests,
        and for the staff console acting for a node): arguments and answer checked, every
        refusal a ``RequestFailed`` with the code the requester would be told."""
        return METHODS[method].call(self.routes()[method], requester, args)

    # -- what a component owns ----------------------------------------------------------------

    def own_connection(self, db_path: Path) -> sqlite_utils.Database:
        """Open the component's one connection to ``edge.db`` (``self.db``) and the lock
        (``self._lock``) every thread that uses it holds; closed by :meth:`close`."""
        self.db = open_database(db_path, shared_thread=True)
        self._lock = threading.RLock()
        return self.db

    def every(self, seconds: float, job: Callable[[], Any], *, name: str, first_now: bool = False) -> Periodic:
        """Run ``job`` every ``seconds`` on a thread of its own from :meth:`start` to :meth:`stop`
        (a failing run is logged, the next still comes)."""
        timer = Periodic(job, seconds, name=name, first_now=first_now)
        self.__dict__.setdefault("timers", []).append(timer)
        return timer

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the component's threads; the bus is connecting."""
        for timer in self.__dict__.get("timers", ()):
            timer.start()

    def republish(self) -> None:
        """After every (re)connect, off the network thread: publish again what the broker
        may have lost (retained state)."""

    def stop(self) -> None:
        """Stop the component's threads; the bus is still up, so last messages can go out."""
        for timer in self.__dict__.get("timers", ()):
            timer.stop()

    def close(self) -> None:
        """Release the connection (and, in subclasses, devices); the bus is closed."""
        self.stop()
        db = self.__dict__.get("db")
        if db is not None:
            with self._lock:
                db.close()
