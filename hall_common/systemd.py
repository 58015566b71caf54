"""systemd's notify protocol, with the standard library only.

On a Pi every hall part runs as a ``Type=notify`` unit with ``WatchdogSec=``. systemd then
knows a part is up only when it says ``READY=1`` (so units ordered after it wait for a
part that really serves, not for a process that merely exists), and it restarts a part
whose ``WATCHDOG=1`` pings stop: a process that is hung, e.g. deadlocked or stuck in a
C call holding the GIL, does not exit by itself, so ``Restart=always`` alone would never
bring it back.

The protocol is one datagram per message to the unix socket named in ``NOTIFY_SOCKET``
(a path, or an abstract socket when it starts with ``@``). Outside systemd (``hall up``,
tests, a developer's shell) that variable is unset and every function here does nothing,
so callers need no ``if``.

Each function takes the environment as a mapping (default ``os.environ``) and reads it
when called, so tests can pass their own instead of patching the process environment::

    from hall_common import systemd

    watchdog = systemd.start_watchdog()   # None when the unit has no WatchdogSec
    systemd.ready()
    ...
    systemd.stopping()
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Callable, Mapping

log = logging.getLogger(__name__)


def _address(env: Mapping[str, str]) -> str | None:
    """The notify socket's address for ``socket.sendto``, or None when not under systemd."""
    path = env.get("NOTIFY_SOCKET", "")
    if path.startswith("@"):
        # An abstract socket: the name lives in the kernel, not in the file system.
        return "\0" + path[1:]
    if path.startswith("/"):
        return path
    if path:
        # e.g. vsock:..., which systemd uses for virtual machines; not ours to speak.
        log.warning("NOTIFY_SOCKET %r is not a unix socket; not notifying systemd", path)
    return None


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (e.g. ``"READY=1"``) to systemd; True if it was sent.

    False, without an error, when the process does not run under systemd. A failed send is
    logged and also gives False: a part must keep serving even if systemd cannot be told.
    """
    address = _address(os.environ if env is None else env)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(message.encode("utf-8"), address)
    except OSError as exc:
        log.warning("systemd notify %r failed: %s", message, exc)
        return False
    return True


def ready(env: Mapping[str, str] | None = None) -> bool:
    """Tell systemd the part serves now; until then its unit stays "activating"."""
    return notify("READY=1", env)


def stopping(env: Mapping[str, str] | None = None) -> bool:
    """Tell systemd the part is shutting down, so the journal and ``systemctl status`` say
    "deactivating" instead of taking the stop for a crash."""
    return notify("STOPPING=1", env)


class Watchdog(threading.Thread):
    """A daemon thread that sends ``WATCHDOG=1`` every ``interval`` seconds.

    It pings only while ``healthy()`` returns True (default: always), so a caller can tie
    the pings to something a stuck part would stop doing, not just to the thread being
    alive.
    """

    def __init__(self, interval: float, env: Mapping[str, str],
                 healthy: Callable[[], bool] | None = None) -> None:
        super().__init__(name="systemd-watchdog", daemon=True)
        self.interval = interval
        self._env = dict(env)
        self._healthy = healthy
        self._halt = threading.Event()  # not ``_stop``: Thread uses that name itself

    def run(self) -> None:
        while not self._halt.is_set():
            if self._healthy is None or self._check():
                notify("WATCHDOG=1", self._env)
            self._halt.wait(self.interval)

    def _check(self) -> bool:
        try:
            return bool(self._healthy())  # type: ignore[misc]
        except Exception:
            log.exception("watchdog health check failed; not pinging systemd")
            return False

    def stop(self) -> None:
        """End the pings (at shutdown, or when a test is done with its socket)."""
        self._halt.set()


def start_watchdog(env: Mapping[str, str] | None = None, *,
                   healthy: Callable[[], bool] | None = None) -> Watchdog | None:
    """Start pinging systemd's watchdog at half the unit's ``WatchdogSec``; None if it has none.

    systemd sets ``WATCHDOG_USEC`` (the interval in microseconds) and ``WATCHDOG_PID``. The
    pings are for the main process only: a child that inherited the environment must not
    keep a dead parent looking alive, so nothing starts when ``WATCHDOG_PID`` names another
    process. Half the interval leaves room for one late ping.
    """
    env = os.environ if env is None else env
    raw = env.get("WATCHDOG_USEC", "")
    if not raw or _address(env) is None:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(raw)
    except ValueError:
        usec = 0
    if usec <= 0:
        log.warning("WATCHDOG_USEC %r is not a positive number; no watchdog pings", raw)
        return None
    watchdog = Watchdog(usec / 2_000_000, env, healthy)
    watchdog.start()
    log.info("systemd watchdog pings every %.1f s", watchdog.interval)
    return watchdog
