"""Console sessions kept server-side: the browser's cookie carries a random id and nothing else.

A signed cookie that holds the user name stays good for as long as its signature does: a
copy taken from a shared counter PC, or read off plain HTTP, logs its holder in after the
owner logged out. Here the cookie (Flask's own, signed with the part's secret key) holds
only a random session id; the server holds what the id stands for, under the id's
SHA-256, so a copy of where sessions are kept opens none. Every request looks the id up,
and a session that was logged out, has not been used for ``idle_timeout_s`` or began more
than ``absolute_timeout_s`` ago is gone (:class:`hall_common.config.ConsoleConfig`).

Sessions live behind a small :class:`SessionStore`: :class:`MemorySessions` in the staff
console, which is one process and must let staff in even when the edge's disk is full;
``StoreSessions`` in the centre's database (``central_sync/server/db.py``, SQLite or
PostgreSQL), which every API worker shares. :mod:`hall_common.auth` wires them into a
console.

Example::

    policy = SessionPolicy(idle_s=1800, absolute_s=12 * 3600)
    sessions = MemorySessions()
    sid = policy.start(sessions, "staff", "staff")     # at login; the cookie gets sid
    live = policy.check(sessions, sid)                 # each request: None = log in again
    policy.end(sessions, sid)                          # logout: sid opens nothing any more
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Protocol

TOUCH_EVERY_S = 60.0
"""A session's last use is recorded at most this often, not on every request: the idle
timeout is kept to within a minute without a database write per page."""


@dataclass(frozen=True)
class ConsoleSession:
    """One login, as the server keeps it. ``key`` is the SHA-256 of the id in the cookie,
    never the id itself."""

    key: str
    username: str
    role: str
    created_at: float
    seen_at: float


class SessionStore(Protocol):
    """Where a console keeps its sessions (in its memory, or in its own database)."""

    def add(self, session: ConsoleSession) -> None: ...

    def find(self, key: str) -> ConsoleSession | None: ...

    def seen(self, key: str, at: float) -> None: ...

    def remove(self, key: str) -> None: ...

    def remove_user(self, username: str) -> None: ...

    def remove_expired(self, idle_before: float, created_before: float) -> None: ...


class MemorySessions:
    """Console sessions in the memory of a console that is one process (the staff console
    at the edge). They need no disk: staff can still log in when the edge's disk is full,
    to read the console's banner saying so, and a Pi's SD card is not written a line a
    minute per open console. A restart of the process logs everyone out."""

    def __init__(self) -> None:
        self._sessions: dict[str, ConsoleSession] = {}
        self._lock = threading.Lock()

    def add(self, session: ConsoleSession) -> None:
        with self._lock:
            self._sessions[session.key] = session

    def find(self, key: str) -> ConsoleSession | None:
        with self._lock:
            return self._sessions.get(key)

    def seen(self, key: str, at: float) -> None:
        with self._lock:
            found = self._sessions.get(key)
            if found is not None:
                self._sessions[key] = replace(found, seen_at=at)

    def remove(self, key: str) -> None:
        with self._lock:
            self._sessions.pop(key, None)

    def remove_user(self, username: str) -> None:
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.username == username]:
                del self._sessions[key]

    def remove_expired(self, idle_before: float, created_before: float) -> None:
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.seen_at < idle_before or s.created_at < created_before]:
                del self._sessions[key]


def key_of(session_id: str) -> str:
    """What the server keeps of a session id: its SHA-256 (the id is 256 random bits, so a
    plain hash is enough; nothing to slow down)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionPolicy:
    """The rules of one console's sessions: how long one may sit unused, how long one may
    last at all, and the clock they are measured by (a test's own, to move it)."""

    def __init__(self, *, idle_s: float, absolute_s: float, clock: Callable[[], float] = time.time) -> None:
        self.idle_s, self.absolute_s, self.clock = idle_s, absolute_s, clock

    def start(self, store: SessionStore, username: str, role: str) -> str:
        """A new session for a user who just logged in; returns the id for the cookie.
        Sessions that ended by themselves are cleared out on the way."""
        now = self.clock()
        store.remove_expired(now - self.idle_s, now - self.absolute_s)
        session_id = secrets.token_urlsafe(32)
        store.add(ConsoleSession(key_of(session_id), username, role, now, now))
        return session_id

    def check(self, store: SessionStore, session_id: str) -> ConsoleSession | None:
        """The live session ``session_id`` opens, or None: unknown (logged out, revoked)
        or expired, in which case it is removed."""
        found = store.find(key_of(session_id))
        if found is None:
            return None
        now = self.clock()
        if now - found.seen_at > self.idle_s or now - found.created_at > self.absolute_s:
            store.remove(found.key)
            return None
        return found

    def touch(self, store: SessionStore, session: ConsoleSession) -> None:
        """The user did something: the idle timeout starts again (written once a minute at most)."""
        now = self.clock()
        if now - session.seen_at >= TOUCH_EVERY_S:
            store.seen(session.key, now)

    def end(self, store: SessionStore, session_id: str) -> None:
        """Log out: the id opens nothing from now on, wherever a copy of the cookie is."""
        store.remove(key_of(session_id))
