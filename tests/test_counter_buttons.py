"""A call-next button on the edge Pi's GPIO, with gpiozero's MockFactory standing in for
the pins: a press calls the next number (and the board hears it), contact bounce is one
press, and a press with nobody waiting harms nothing."""

from __future__ import annotations

import time
import uuid

import pytest

from hall_common.bus import contract

from .conftest import HALL, wait_for

ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
QUEUE = {"hours": ALWAYS, "counters": [
    {"id": "c1", "name": "1", "services": ["procedures"], "button_pin": 17},
    {"id": "c2", "name": "2", "services": ["payment"], "button_pin": 27},
]}


def press(button, hold: float = 0.1) -> None:
    button.pin.drive_low()   # pulled up: pressed is low
    time.sleep(hold)
    button.pin.drive_high()


def test_a_press_calls_the_next_number_and_the_board_hears_it(mini, broker):
    agent = mini.edge(queue=QUEUE, hardware={"gpio": "mock"})
    calls = []
    board = broker.client("display-01", kind="display", connect=False)
    board.subscribe(contract.QUEUE_CALLED.topic(hall=HALL), lambda m: calls.append(m.payload))
    board.start()
    assert board.wait_connected(10)
    for _ in range(2):
        agent.queue.answer("ticket", "kiosk-01", {"request": str(uuid.uuid4()), "service": "procedures"})
    agent.queue.buttons.repeat_s = 0.2  # a shorter wait than the hall's second, for the test
    press(agent.queue.buttons.buttons["c1"])
    wait_for(lambda: len(calls) == 1)
    assert (calls[0].ticket, calls[0].counter) == ("A001", "c1")
    time.sleep(0.25)  # a deliberate second press, not a double press
    press(agent.queue.buttons.buttons["c1"])
    wait_for(lambda: len(calls) == 2)
    assert calls[1].ticket == "A002"
    assert agent.queue.buttons.buttons["c1"].pin.bounce == pytest.approx(0.05)


def test_contact_bounce_and_a_double_press_are_one_press(mini):
    agent = mini.edge(queue=QUEUE, hardware={"gpio": "mock"})
    for _ in range(3):
        agent.queue.answer("ticket", "kiosk-01", {"request": str(uuid.uuid4()), "service": "procedures"})
    pin = agent.queue.buttons.buttons["c1"].pin
    for _ in range(4):  # the contact chatters for a few milliseconds
        pin.drive_low()
        time.sleep(0.002)
        pin.drive_high()
        time.sleep(0.002)
    press(agent.queue.buttons.buttons["c1"], hold=0.05)  # and a nervous second press
    wait_for(lambda: agent.queue.engine.waiting_counts()["procedures"] == 2)
    time.sleep(0.3)
    assert agent.queue.engine.waiting_counts()["procedures"] == 2  # one call, not five


def test_a_press_with_nobody_waiting_changes_nothing_and_the_button_still_works(mini):
    agent = mini.edge(queue=QUEUE, hardware={"gpio": "mock"})
    agent.queue.buttons.repeat_s = 0.2
    press(agent.queue.buttons.buttons["c2"])
    time.sleep(0.25)
    agent.queue.answer("ticket", "kiosk-01", {"request": str(uuid.uuid4()), "service": "payment"})
    press(agent.queue.buttons.buttons["c2"])
    wait_for(lambda: next(c for c in agent.queue.engine.counter_states() if c["counter"].id == "c2")["ticket"])
