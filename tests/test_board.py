"""The now-serving board in headless Chromium, pushed to by server-sent events from a real
edge agent over a real broker: a call from the counter page appears without a reload; the
board says "offline" when the edge stops and catches up when it returns; calls are spoken
in order, each once, and a recall speaks again."""

from __future__ import annotations

import os
import urllib.request
import uuid
from pathlib import Path

import pytest

from edge_agent.agent import EdgeAgent
from hall_display.board import phrase_zh

from .conftest import wait_for
from .screens import staff_page

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "board"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "screens"
ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
QUEUE = {"hours": ALWAYS, "counters": [
    {"id": "c1", "name": "1", "services": ["procedures", "consult"]},
    {"id": "c2", "name": "2", "services": ["repair"]},
    {"id": "c3", "name": "3", "services": ["payment"]},
]}


@pytest.fixture
def hall(mini):
    agent = mini.edge(queue=QUEUE)
    board, state = mini.display(announcement="本周六上午 9 点至 11 点停水，请提前储水。")
    yield mini, agent, board, state


def take(agent, service: str, kiosk: str = "kiosk-01") -> dict:
    return agent.queue.answer("ticket", kiosk, {"request": str(uuid.uuid4()), "service": service})


def open_board(pages, url: str):
    page = pages.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(url)
    page.wait_for_function("!document.body.classList.contains('offline')")
    return page


def test_a_call_from_the_counter_page_shows_on_the_board_without_a_reload(hall, pages):
    mini, agent, board, _ = hall
    for service in ("procedures", "procedures", "repair", "payment"):
        take(agent, service)
    console = mini.console(agent, printing=agent.printing, queue=agent.queue)

    page = open_board(pages, board.url)
    page.wait_for_function("document.querySelectorAll('#counters .counter').length === 3")
    assert "手续办理 等候 2 人" in page.inner_text("#waiting")
    navigations = []
    page.on("framenavigated", lambda f: navigations.append(f.url))

    staff = staff_page(pages, console.url + "counters/c1")
    staff.click("text=叫下一位 · Call next")
    page.wait_for_function("document.getElementById('latest-ticket').textContent === 'A001'")
    assert "请到 1 号窗口" in page.inner_text("#latest")
    # the counter's tile follows the queue's state, which may come a moment after
    page.wait_for_function("document.querySelector('[data-counter=c1] .ticket').textContent.trim() === 'A001'")
    page.wait_for_function("document.getElementById('waiting').textContent.includes('手续办理 等候 1 人')")
    assert "停水" in page.inner_text("footer")
    assert navigations == []  # pushed, not reloaded
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "board.png")
    if os.environ.get("UPDATE_DOC_SCREENS") == "1":  # the README's picture
        from PIL import Image

        Image.open(SHOTS / "board.png").convert("RGB").resize((960, 540)).save(DOCS / "board.png", optimize=True)
    staff.close()
    page.close()


def test_the_board_says_offline_when_the_edge_stops_and_catches_up_when_it_returns(hall, pages):
    mini, agent, board, _ = hall
    take(agent, "procedures")
    agent.queue.act("c1", "next")
    page = open_board(pages, board.url)
    page.wait_for_function("document.querySelector('[data-counter=c1] .ticket').textContent === 'A001'")
    agent.close()
    page.wait_for_function("document.body.classList.contains('offline')")
    assert page.is_visible("#offline") and "大厅系统连接中断" in page.inner_text("#offline")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "board-offline.png")
    again = EdgeAgent(agent.config)
    again.start()
    mini.closers.append(again.close)
    page.wait_for_function("!document.body.classList.contains('offline')", timeout=20000)
    # Caught up from the state the edge publishes again: the number called before the outage.
    # the counter's tile follows the queue's state, which may come a moment after
    page.wait_for_function("document.querySelector('[data-counter=c1] .ticket').textContent.trim() === 'A001'")
    page.close()


def test_calls_are_spoken_in_order_once_each_and_a_recall_speaks_again(hall, pages):
    mini, agent, board, state = hall
    take(agent, "procedures")
    take(agent, "payment")
    page = open_board(pages, board.url)
    first = agent.queue.act("c1", "next")
    second = agent.queue.act("c3", "next")  # overlapping: the first is still being spoken
    assert (first["ticket"], second["ticket"]) == ("A001", "F001")
    agent.queue.act("c1", "recall")
    wait_for(lambda: len(page.evaluate("window.__board.spoken")) == 3, timeout=30)
    spoken = page.evaluate("window.__board.spoken")
    calls = state.calls_after(0)
    assert spoken == [c.call.id for c in calls]  # in the order called, none twice
    assert [(c.call.ticket, c.call.recall) for c in calls] == [("A001", False), ("F001", False), ("A001", True)]
    # The audio: a chime, then the Mandarin call, produced offline and cached per phrase.
    assert calls[0].voice == calls[2].voice  # the recall reuses the cached phrase
    for src in ("chime.wav", f"voice/{calls[0].voice[0]}.wav", f"voice/{calls[1].voice[0]}.wav"):
        with urllib.request.urlopen(board.url + src, timeout=10) as r:
            data = r.read()
            assert r.headers["Content-Type"] == "audio/wav" and data[:4] == b"RIFF" and len(data) > 10_000
    assert phrase_zh("A012", "3") == "请 A 零一二 号，到 3 号窗口办理"
    assert len(list((mini.tmp / "display" / "voice").glob("*.wav"))) == 3  # two phrases and the chime
    page.close()


def test_a_duplicate_call_from_the_broker_is_spoken_once(hall):
    mini, agent, board, state = hall
    from hall_common.bus import contract
    from hall_common.bus.payloads import QueueCalled

    call = QueueCalled(id="call-dup-0001", ticket="A009", counter="c1", counter_name="1", service="procedures",
                       ts=0.0)
    for _ in range(2):
        agent.bus.publish(contract.QUEUE_CALLED, call, hall=agent.config.hall_id)
    wait_for(lambda: state.calls_after(0))
    agent.bus.publish(contract.QUEUE_CALLED, call.model_copy(update={"id": "call-dup-0002"}), hall=agent.config.hall_id)
    wait_for(lambda: len(state.calls_after(0)) == 2)
    assert [c.call.id for c in state.calls_after(0)] == ["call-dup-0001", "call-dup-0002"]


def test_english_follows_mandarin_when_configured(mini):
    from hall_common.bus import contract
    from hall_common.bus.payloads import QueueCalled
    from hall_display.board import phrase_en

    agent = mini.edge(queue=QUEUE)
    _, state = mini.display(voice_en=True)
    agent.bus.publish(contract.QUEUE_CALLED, QueueCalled(id="call-en-0001", ticket="B007", counter="c2",
                                                         counter_name="2", service="repair", ts=0.0),
                      hall=agent.config.hall_id)
    wait_for(lambda: state.calls_after(0))
    [heard] = state.calls_after(0)
    assert len(heard.voice) == 2  # Mandarin first, then English
    zh, en = (state.voice.wav(k) for k in heard.voice)
    assert zh.read_bytes()[:4] == en.read_bytes()[:4] == b"RIFF" and zh != en
    assert phrase_en("B007", "2") == "Number B 0 0 7, please go to counter 2."
