"""What the board shows and says: the edge's retained queue state, each call in order, the
announcement, and whether the edge is there.

The bus worker feeds it; the board page follows it over server-sent events (``/events``).
Every change bumps ``version`` and wakes the waiting event streams, so a call reaches the
TV as it happens, not on the next poll. Calls are numbered in arrival order and kept for
a while: a page that reconnects says which call it heard last (``Last-Event-ID``) and gets
the ones it missed, none twice.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from hall_common.bus import contract
from hall_common.bus.client import BusClient, BusMessage
from hall_common.bus.payloads import QueueCalled, QueueState
from hall_common.link import EdgeWatch
from hall_common.voice import Voice

MISSED_CALLS_S = 120
"""A call older than this is not replayed to a page that reconnects: it would be stale."""

_DIGITS = "零一二三四五六七八九"


def phrase_zh(ticket: str, counter_name: str) -> str:
    """The Mandarin call, digits read one by one as halls do: 请 A 零一二 号到 3 号窗口办理."""
    letters = "".join(c for c in ticket if c.isalpha())
    digits = "".join(_DIGITS[int(c)] for c in ticket if c.isdigit())
    return f"请 {letters} {digits} 号，到 {counter_name} 号窗口办理"


def phrase_en(ticket: str, counter_name: str) -> str:
    return f"Number {' '.join(ticket)}, please go to counter {counter_name}."


@dataclass(frozen=True)
class HeardCall:
    seq: int
    call: QueueCalled
    at: float
    voice: list[str]
    """Voice cache keys to play after the chime, in order (Mandarin, then English if set)."""


class BoardState:
    """Example::

        board = BoardState(voice=Voice(cache_dir))
        board.follow(bus)                      # before bus.start()
        version = board.wait(since=0, timeout=15)
    """

    def __init__(self, *, voice: Voice | None = None, english: bool = False, announcement: str = "") -> None:
        self.voice, self.english, self.default_announcement = voice, english, announcement
        self.speak = True
        """False: calls are shown, not spoken (the centre's board settings turned the voice off)."""
        self._cond = threading.Condition()
        self._state: QueueState | None = None
        self._announcement = ""
        self._calls: deque[HeardCall] = deque(maxlen=50)
        self._seen_ids: deque[str] = deque(maxlen=200)
        self._seq = 0
        self.version = 0
        self.edge: EdgeWatch | None = None

    def follow(self, bus: BusClient) -> None:
        self.edge = EdgeWatch(bus)
        hall = bus.hall_id
        bus.subscribe(contract.QUEUE_STATE.topic(hall=hall), self._on_state)
        bus.subscribe(contract.QUEUE_CALLED.topic(hall=hall), self._on_called)
        bus.subscribe(contract.ANNOUNCEMENT.topic(hall=hall), self._on_announcement)
        bus.subscribe(contract.NODE_STATE.topic(hall=hall, node=contract.EDGE_NODE), lambda m: self._bump())

    # -- fed by the bus ----------------------------------------------------------------------

    def _on_state(self, msg: BusMessage) -> None:
        with self._cond:
            self._state = msg.payload
            self._bump_locked()

    def _on_called(self, msg: BusMessage) -> None:
        call: QueueCalled = msg.payload
        keys = []
        if self.voice is not None and self.speak:
            keys.append(self.voice.register(phrase_zh(call.ticket, call.counter_name), "zh"))
            if self.english:
                keys.append(self.voice.register(phrase_en(call.ticket, call.counter_name), "en"))
            for key in keys:
                self.voice.wav(key)  # synthesise now, on the bus thread, so the page plays at once
        with self._cond:
            if call.id in self._seen_ids:
                return  # the broker delivered it twice: say it once
            self._seen_ids.append(call.id)
            self._seq += 1
            self._calls.append(HeardCall(self._seq, call, time.time(), keys))
            self._bump_locked()

    def _on_announcement(self, msg: BusMessage) -> None:
        with self._cond:
            self._announcement = msg.payload.text
            self._bump_locked()

    def reconfigure(self, *, speak: bool, english: bool, announcement: str) -> None:
        """New settings from the centre, shown at once (every page gets a new state)."""
        with self._cond:
            self.speak, self.english, self.default_announcement = speak, english, announcement
            self._bump_locked()

    def _bump(self) -> None:
        with self._cond:
            self._bump_locked()

    def _bump_locked(self) -> None:
        self.version += 1
        self._cond.notify_all()

    # -- read by the page --------------------------------------------------------------------

    @property
    def current(self) -> QueueState | None:
        with self._cond:
            return self._state

    @property
    def edge_up(self) -> bool:
        return bool(self.edge and self.edge.edge_up)

    def wait(self, since: int, timeout: float) -> int:
        """Block until ``version`` passes ``since`` or ``timeout`` seconds went by."""
        with self._cond:
            self._cond.wait_for(lambda: self.version != since, timeout)
            return self.version

    def calls_after(self, seq: int) -> list[HeardCall]:
        cutoff = time.time() - MISSED_CALLS_S
        with self._cond:
            return [c for c in self._calls if c.seq > seq and c.at >= cutoff]

    @property
    def last_seq(self) -> int:
        with self._cond:
            return self._seq

    def snapshot(self) -> dict[str, Any]:
        """Everything the page draws, as JSON."""
        with self._cond:
            state = self._state
            announcement = self._announcement or self.default_announcement
        return {
            "edge_up": self.edge_up,
            "announcement": announcement,
            "counters": [c.model_dump() for c in state.counters] if state else [],
            "services": [s.model_dump() for s in state.services] if state else [],
            "last_called": list(state.last_called) if state else [],
        }
