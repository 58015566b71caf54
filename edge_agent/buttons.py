"""Call-next buttons wired to the edge Pi's GPIO, one per counter (gpiozero ``Button``,
debounced).

gpiozero calls ``when_pressed`` on its own thread; the press is only put on a queue there,
and a worker thread does the call (database, bus), so a burst of presses never blocks the
pin thread. A press does what "call next" on the counter page does.

Example::

    buttons = CounterButtons({"c1": 17}, act=lambda counter: service.act(counter, "next"))
    ...
    buttons.close()

Tests pass ``pin_factory=MockFactory()`` and drive the pins.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable

from gpiozero import Button

log = logging.getLogger(__name__)

BOUNCE_S = 0.05
"""Contact bounce filtered by the pin driver (gpiozero ``bounce_time``)."""

REPEAT_S = 1.0
"""A second press of the same button within this time is the same press: a nervous double
press would otherwise finish the resident just called and call the next one past them.
It also covers pin drivers that ignore ``bounce_time`` (gpiozero's mock pins do)."""


class CounterButtons:
    def __init__(self, pins: dict[str, int], act: Callable[[str], Any], *, pin_factory: Any = None,
                 bounce_s: float = BOUNCE_S, repeat_s: float = REPEAT_S) -> None:
        self._act, self.repeat_s = act, repeat_s
        self._last: dict[str, float] = {}
        self._presses: queue.Queue[str | None] = queue.Queue(maxsize=100)
        self.buttons: dict[str, Button] = {}
        for counter, pin in pins.items():
            button = Button(pin, pull_up=True, bounce_time=bounce_s, pin_factory=pin_factory)
            button.when_pressed = lambda counter=counter: self._press(counter)
            self.buttons[counter] = button
        self._worker = threading.Thread(target=self._run, name="counter-buttons", daemon=True)
        self._worker.start()

    def _press(self, counter: str) -> None:
        now = time.monotonic()
        if now - self._last.get(counter, float("-inf")) < self.repeat_s:
            return
        self._last[counter] = now
        try:
            self._presses.put_nowait(counter)
        except queue.Full:
            log.warning("button of counter %s: too many presses waiting, this one dropped", counter)

    def _run(self) -> None:
        while (counter := self._presses.get()) is not None:
            try:
                result = self._act(counter)
                log.info("button of counter %s: called %s", counter, result)
            except Exception:  # a refused call must not end the worker: log it and go on
                log.exception("button of counter %s: call failed", counter)

    def close(self) -> None:
        self._presses.put(None)
        self._worker.join(5)
        for button in self.buttons.values():
            button.close()
