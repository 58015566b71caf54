"""Bills: the resident QR code (signed, domain-separated, refused when forged, expired,
another hall's or junk), the centre's lookup on SQLite and a real PostgreSQL (one room's
lines only, owner masked, wrong digits rate limited per caller credential and per room),
the edge's limit per kiosk by its bus login, and the kiosk end to end in headless Chromium
with a real broker, edge and centre: identify by a QR image in the simulated camera's
folder or by room plus phone digits, see each charge with its standard and basis, tick
lines for a total, and nothing of another household reachable."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from central_sync.server.resident_demo import load_demo
from central_sync.server.residents import MAX_CALLER_FAILURES, MAX_FAILURES
from central_sync.signing import public_key_b64
from central_sync.signing import sign as sign_config
from edge_agent.bills import MAX_WRONG, WRONG_WINDOW_S, BillsRelay
from edge_agent.centre_api import CentreAPI
from hall_common import resident_qr
from hall_common.bus import contract
from hall_common.config import CameraConfig
from hall_common.errors import RequestFailed
from kiosk.camera import camera_from

from .conftest import HALL, examples, wait_for
from .helpers.central import central_app
from .minihall import Served
from .screens import check_screen, kiosk_page, kiosk_session

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "bills"
KEY = Ed25519PrivateKey.generate()
PUB = public_key_b64(KEY)
NOW = 1_800_000_000.0
GOOD = resident_qr.issue(KEY, hall="h1", room="3-2-1201", expires=NOW + 3600)


# -- the code ------------------------------------------------------------------------------


def refused(text: object, *, hall: str = "h1", now: float = NOW, key: str = PUB) -> str:
    with pytest.raises(resident_qr.QRRefused) as exc:
        resident_qr.verify(key, text, hall=hall, now=now)
    return exc.value.reason


def test_a_genuine_code_names_its_room():
    assert resident_qr.verify(PUB, GOOD, hall="h1", now=NOW) == "3-2-1201"
    assert len(GOOD) < 200  # small enough for a QR a phone camera reads at a glance


def test_forged_expired_other_hall_and_garbage_are_refused_with_their_reason():
    other_key = Ed25519PrivateKey.generate()
    assert refused(resident_qr.issue(other_key, hall="h1", room="3-2-1201", expires=NOW + 3600)) == "forged"
    payload, sig = GOOD[len(resident_qr.PREFIX):].split(".")
    claim = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claim["room"] = "3-2-1202"  # someone else's room under the genuine signature
    moved = base64.urlsafe_b64encode(json.dumps(claim, separators=(",", ":")).encode()).rstrip(b"=").decode()
    assert refused(f"{resident_qr.PREFIX}{moved}.{sig}") == "forged"
    assert refused(GOOD, now=NOW + 3600) == "expired"
    assert refused(GOOD, hall="h2") == "other_hall"
    for junk in ("", "HR1.", "HR1.abc", "HR1.a.b.c", "HR1.!!!.???", "http://hall/t/1012611240429", None, 42, GOOD[:-10]):
        assert refused(junk) in ("unreadable", "forged")


def test_a_config_signature_does_not_pass_as_a_resident_code():
    """Domain separation: the same key signs kiosk configuration; its signatures must not
    make a resident code (nor the other way round)."""
    payload = json.dumps({"v": 1, "hall": "h1", "room": "3-2-1201", "exp": int(NOW + 3600)}, separators=(",", ":")).encode()
    raw_sig = KEY.sign(payload)  # signed without the resident-qr domain prefix
    text = f"{resident_qr.PREFIX}{base64.urlsafe_b64encode(payload).rstrip(b'=').decode()}." \
           f"{base64.urlsafe_b64encode(raw_sig).rstrip(b'=').decode()}"
    assert refused(text) == "forged"
    doc = sign_config(KEY, hall="h1", node="kiosk-01", version=1, expires=NOW, body={"room": "3-2-1201"})
    assert refused(f"{resident_qr.PREFIX}{doc.sig}") == "unreadable"


@settings(max_examples=examples(300), deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: "HR1." + b.decode("latin-1")),
                 st.integers(0, len(GOOD) - 1).map(lambda n: GOOD[:n]),
                 st.tuples(st.integers(0, len(GOOD) - 1), st.characters()).map(
                     lambda t: GOOD[:t[0]] + t[1] + GOOD[t[0] + 1:])))
def test_junk_never_raises_anything_else_and_never_names_another_room(text):
    try:
        room = resident_qr.verify(PUB, text, hall="h1", now=NOW)
    except resident_qr.QRRefused as exc:
        assert exc.reason in ("unreadable", "forged", "expired", "other_hall")
    else:  # only a change in the signature's unused padding bits can keep it valid
        assert room == "3-2-1201"


# -- the centre ----------------------------------------------------------------------------


@pytest.fixture
def centre(central_db, tmp_path):
    app, store, tokens = central_app(tmp_path, central_db)
    load_demo(store, "h1")
    yield app, store, tokens
    pool = app.extensions.get("store_pool")
    if pool is not None:
        pool.close()
    store.close()


def ask(app, token: str | None, body: object):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().post("/api/v1/residents/bills", json=body, headers=headers)


def test_room_and_digits_give_that_room_only_priced_openly_owner_masked(centre):
    app, store, tokens = centre
    r = ask(app, tokens["h1"], {"kiosk": "kiosk-01", "room": "3-2-1201", "last4": "5678"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["household"] == {"room": "3-2-1201", "building": "3", "unit": "2", "name": "张*"}
    text = json.dumps(body, ensure_ascii=False)
    assert "张三" not in text and "13812345678" not in text and "李" not in text
    mine = {str(r["id"]) for r in store.query("SELECT id FROM bill_lines WHERE room = '3-2-1201'")}
    lines = body["unpaid"] + body["paid"]
    assert lines and {line["id"] for line in lines} <= mine
    assert {line["item"] for line in body["unpaid"]} == {"物业费", "车位管理费", "水费"}
    fee = next(line for line in body["unpaid"] if line["item"] == "物业费")
    assert fee["standard"] == "2.50 元/㎡·月 × 89.5 ㎡" and "物业服务合同第 5 条" in fee["basis"]
    assert fee["amount_fen"] == 22375 and isinstance(fee["amount_fen"], int)
    assert all(line["status"] == "paid" for line in body["paid"])
    assert any(line["overdue"] for line in body["unpaid"])  # a plain fact on the line


def test_a_resident_code_is_checked_at_the_centre_too(centre):
    app, store, tokens = centre
    key = app.extensions["config_key"]
    good = resident_qr.issue(key, hall="h1", room="5-1-601", expires=time.time() + 60)
    r = ask(app, tokens["h1"], {"kiosk": "kiosk-01", "qr": good})
    assert r.status_code == 200 and r.get_json()["household"]["name"] == "王*"
    forged = resident_qr.issue(KEY, hall="h1", room="5-1-601", expires=time.time() + 60)
    assert (ask(app, tokens["h1"], {"kiosk": "k", "qr": forged}).get_json()["code"]) == "forged"
    expired = resident_qr.issue(key, hall="h1", room="5-1-601", expires=time.time() - 1)
    assert ask(app, tokens["h1"], {"kiosk": "k", "qr": expired}).get_json()["code"] == "expired"
    # Hall h2's edge presenting h1's genuine code: refused, nothing of h1 leaks to h2.
    r = ask(app, tokens["h2"], {"kiosk": "k", "qr": good})
    assert r.status_code == 403 and r.get_json()["code"] == "other_hall"
    r = ask(app, tokens["h2"], {"kiosk": "k", "room": "3-2-1201", "last4": "5678"})
    assert r.status_code == 404


def test_refusals_say_what_is_wrong(centre):
    app, store, tokens = centre
    assert ask(app, None, {"room": "3-2-1201", "last4": "5678"}).status_code == 401
    assert ask(app, "nope", {"room": "3-2-1201", "last4": "5678"}).status_code == 401
    r = ask(app, tokens["h1"], {"room": "3-2-1201", "last4": "56"})
    assert r.status_code == 422 and "last4" in r.get_json()["detail"]
    assert ask(app, tokens["h1"], ["room"]).status_code == 422
    assert ask(app, tokens["h1"], {"room": 3}).status_code == 422


def test_wrong_digits_are_limited_per_room(centre):
    app, store, tokens = centre
    for _ in range(MAX_FAILURES):
        assert ask(app, tokens["h1"], {"kiosk": "kiosk-01", "room": "3-2-1202", "last4": "0000"}).status_code == 404
    # The room is locked now, even with the right digits, whichever kiosk the request names.
    r = ask(app, tokens["h1"], {"kiosk": "kiosk-02", "room": "3-2-1202", "last4": "4321"})
    assert r.status_code == 429 and r.get_json()["code"] == "rate_limited"
    # Another room still opens, for the same credential.
    assert ask(app, tokens["h1"], {"kiosk": "kiosk-01", "room": "3-2-1201", "last4": "5678"}).status_code == 200
    # The window passes: the room opens again.
    store.execute("UPDATE resident_failures SET ts = ts - 601")
    assert ask(app, tokens["h1"], {"kiosk": "kiosk-02", "room": "3-2-1202", "last4": "4321"}).status_code == 200


def post_json(url: str, token: str, body: dict) -> tuple[int, dict]:
    """POST ``body`` over HTTP with the edge's bearer token: (status, JSON answer)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wrong_try(i: int) -> dict[str, str]:
    """A wrong try that names a kiosk and a room never named before: no room's own limit and
    no per-kiosk limit could stop a run of them; only the credential's can."""
    return {"kiosk": f"kiosk-{i:02d}", "room": f"7-{i % 4 + 1}-{1001 + i}", "last4": "0000"}


def test_naming_another_kiosk_in_each_request_gets_no_more_wrong_tries(centre):
    """An edge token that names a new kiosk (and a new room) in every request, over the real
    HTTP API: ``MAX_CALLER_FAILURES`` wrong tries, then ``rate_limited`` for anything,
    the right digits of a room never tried included. Another hall's credential is not held back."""
    app, store, tokens = centre
    served = Served(app)
    url = served.url + "api/v1/residents/bills"
    try:
        for i in range(MAX_CALLER_FAILURES):
            assert post_json(url, tokens["h1"], wrong_try(i))[0] == 404, f"wrong try {i + 1}"
        status, body = post_json(url, tokens["h1"], {"kiosk": "kiosk-99", "room": "3-2-1201", "last4": "5678"})
        assert (status, body.get("code")) == (429, "rate_limited"), "the right digits were judged after the limit"
        assert post_json(url, tokens["h1"], wrong_try(MAX_CALLER_FAILURES))[0] == 429
        assert post_json(url, tokens["h2"], wrong_try(0))[0] == 404
    finally:
        served.stop()


def test_wrong_tries_sent_all_at_once_get_no_more_than_the_limit(centre):
    """The limit holds for tries that arrive together (the server's threads; several API
    workers on PostgreSQL): counting, judging and recording a try take turns."""
    app, store, tokens = centre
    served = Served(app, threads=8)
    url = served.url + "api/v1/residents/bills"
    try:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda i: post_json(url, tokens["h1"], wrong_try(i))[0],
                                     range(2 * MAX_CALLER_FAILURES)))
        assert statuses.count(404) == MAX_CALLER_FAILURES and statuses.count(429) == MAX_CALLER_FAILURES
        assert post_json(url, tokens["h1"], {"kiosk": "kiosk-01", "room": "3-2-1201", "last4": "5678"})[0] == 429
    finally:
        served.stop()


def test_the_edge_says_unreachable_at_once_when_the_centre_is_known_down():
    calls = []
    relay = BillsRelay(CentreAPI(url="http://127.0.0.1:9", token=lambda: calls.append(1) or "t", centre_online=lambda: False))
    with pytest.raises(RequestFailed) as exc:
        relay.answer("bills", "kiosk-01", {"room": "3-2-1201", "last4": "5678"})
    assert exc.value.code == "centre_unreachable" and calls == []  # no HTTP attempted
    relay = BillsRelay(CentreAPI(url="http://127.0.0.1:9", token=lambda: "t", timeout=1))
    with pytest.raises(RequestFailed) as exc:
        relay.answer("bills", "kiosk-01", {"qr": "HR1.x.y"})
    assert exc.value.code == "centre_unreachable"


# -- the edge: each kiosk limited by its bus login -------------------------------------------


def failures(store) -> int:
    """Wrong tries the centre has counted (each one reached it)."""
    return store.scalar("SELECT count(*) FROM resident_failures")


def raw_bills_request(broker, *, login: str, client_id: str, as_node: str, args: dict) -> None:
    """A bills request from a bare client logged in as ``login`` but asking for client id
    ``client_id`` and writing on ``as_node``'s request topic, its answer asked on that
    node's reply topic: everything a leaked kiosk password could try in order to be
    counted as another kiosk."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(login, broker.passwords[login])
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = contract.REPLY.topic(hall=HALL, node=as_node)
        props.CorrelationData = b"r" * 16
        topic = contract.REQUEST.topic(hall=HALL, node=as_node, method="bills")
        c.publish(topic, json.dumps({"args": args}).encode(), qos=1, properties=props).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


def room_try(i: int) -> dict[str, str]:
    """:func:`wrong_try` as a kiosk asks the edge: room and digits only."""
    return {k: v for k, v in wrong_try(i).items() if k != "kiosk"}


def test_the_edge_limits_each_kiosk_by_its_bus_login_not_by_what_it_says(mini, broker):
    """At the edge the kiosk is the requester: the node id in the request's topic, which the
    broker's ACL lets only that node's login write. kiosk-01 gets ``MAX_WRONG`` wrong tries
    (on rooms never tried, so no room's limit at the centre stops it first), then
    ``rate_limited`` without the centre being asked, the right digits included. Naming
    another kiosk gets it nothing: not an argument of the contract, not a client id, not
    another kiosk's topic. kiosk-02 is not held back."""
    centre, store, token = mini.registered_centre()
    load_demo(store, HALL)
    mini.edge(centre_url=centre.url, token=token)
    kiosk = broker.client("kiosk-01", kind="kiosk")
    with pytest.raises(RequestFailed) as exc:
        kiosk.request("bills", wrong_try(0))
    assert exc.value.code == "bad_request"  # the contract has no argument that names a kiosk
    for i in range(MAX_WRONG):
        with pytest.raises(RequestFailed) as exc:
            kiosk.request("bills", room_try(i))
        assert exc.value.code == "not_found"
    tried = failures(store)
    with pytest.raises(RequestFailed) as exc:
        kiosk.request("bills", {"room": "3-2-1201", "last4": "5678"})
    assert exc.value.code == "rate_limited"
    raw_bills_request(broker, login="kiosk-01", client_id="kiosk-02", as_node="kiosk-02", args=room_try(50))
    with pytest.raises(RequestFailed) as exc:  # after the one above, on the same broker, in order
        kiosk.request("bills", {"room": "3-2-1201", "last4": "5678"})
    assert exc.value.code == "rate_limited"
    assert failures(store) == tried  # none of it reached the centre
    other = broker.client("kiosk-02", kind="kiosk")
    assert other.request("bills", {"room": "3-2-1201", "last4": "5678"})["household"]["name"] == "张*"


def test_the_edges_limit_lets_a_kiosk_try_again_after_the_window(mini):
    """The window passes and the kiosk may try again; a right answer or an unreachable centre
    is not a wrong try."""
    centre, store, token = mini.registered_centre()
    load_demo(store, HALL)
    now = [1000.0]
    relay = BillsRelay(CentreAPI(url=centre.url, token=lambda: token), clock=lambda: now[0])
    right = {"room": "3-2-1201", "last4": "5678"}
    for _ in range(3):
        assert relay.answer("bills", "kiosk-01", right)["household"]["name"] == "张*"
    for i in range(MAX_WRONG):
        with pytest.raises(RequestFailed) as exc:
            relay.answer("bills", "kiosk-01", room_try(i))
        assert exc.value.code == "not_found"
    with pytest.raises(RequestFailed) as exc:
        relay.answer("bills", "kiosk-01", right)
    assert exc.value.code == "rate_limited"
    now[0] += WRONG_WINDOW_S
    assert relay.answer("bills", "kiosk-01", right)["household"]["name"] == "张*"


# -- the kiosk, end to end -----------------------------------------------------------------


@pytest.fixture
def hall(mini, tmp_path):
    centre, store, token = mini.registered_centre()
    load_demo(store, HALL)
    mini.edge(centre_url=centre.url, token=token)
    key = centre.app.extensions["config_key"]
    kiosk, app = mini.kiosk(test_config={"RESIDENT_PUBLIC_KEY": public_key_b64(key), "CAMERA_SCAN_S": 2})
    photos = tmp_path / "camera"
    photos.mkdir()
    app.extensions["camera"] = camera_from(CameraConfig(kind="images", images_dir=str(photos), scan_s=2))
    wait_for(lambda: app.extensions["hall_status"].snapshot().centre_up)
    yield kiosk, key, photos, store


def hold_up(photos: Path, text: str, name: str) -> None:
    segno.make_qr(text, error="m").save(str(photos / f"{name}.png"), scale=8, border=4)


def check(page, name: str) -> None:
    check_screen(page, SHOTS, name)


def post_form(page, action: str, fields: dict[str, str]) -> None:
    """Post a form the way a tampering visitor would (fetch with the page's CSRF token)."""
    page.evaluate("""([action, fields]) => {
        const body = new URLSearchParams(fields);
        body.set("csrf_token", document.querySelector("input[name=csrf_token]").value);
        return fetch(action, {method: "POST", body});
    }""", [action, fields])


def test_scan_a_resident_code_see_priced_bills_tick_lines_and_nothing_else(hall, browser):
    kiosk, key, photos, store = hall
    page = kiosk_page(browser, kiosk.url)
    page.click(".tile-bills")
    page.wait_for_selector("text=扫描住户二维码")
    assert not page.is_visible(".scan-busy")  # "looking for the code…" only while scanning
    check(page, "1-identify")
    hold_up(photos, resident_qr.issue(key, hall=HALL, room="3-2-1201", expires=time.time() + 600), "resident")
    page.click("button:has-text('扫描住户二维码')")
    page.wait_for_selector(".bill-line")
    text = page.inner_text("main")
    assert "3-2-1201" in text and "张*" in text and "张三" not in text and "5678" not in text
    assert "2.50 元/㎡·月 × 89.5 ㎡" in text and "成都市物业服务收费管理办法；物业服务合同第 5 条" in text
    assert "收费标准" in text and "收费依据" in text and "已过缴费期限" in text
    assert "前台" in page.inner_text(".pay-note") and page.is_disabled(".pay-button")  # nothing chosen yet
    assert page.inner_text(".total") == "¥ 0.00"
    check(page, "2-bills")
    # Tick the parking line, then the water line: the total follows.
    page.click(".bill-line:has-text('车位管理费') .bill-pick")
    page.wait_for_selector(".bill-line.picked")
    assert page.inner_text(".total") == "¥ 300.00"
    page.click(".bill-line:has-text('水费') .bill-pick")
    page.wait_for_function("document.querySelectorAll('.bill-line.picked').length == 2")
    assert page.inner_text(".total") == "¥ 344.20"
    check(page, "3-picked")
    # Tampering: another household's bill id, another room in the address.
    theirs = str(store.query("SELECT id FROM bill_lines WHERE room = '3-2-1202' AND status = 'unpaid'")[0]["id"])
    post_form(page, "/bills/pick", {"line": theirs})
    page.goto(kiosk.url + "bills/list?room=3-2-1202")
    assert page.inner_text(".total") == "¥ 344.20" and "3-2-1202" not in page.inner_text("main")
    assert "李*" not in page.content() and theirs not in page.content()
    assert page.goto(kiosk.url + "bills/3-2-1202").status == 404
    session = kiosk_session(page, kiosk)
    assert theirs not in session and "bills_pick" in session
    # Done: the household is forgotten.
    page.goto(kiosk.url + "bills/list")
    page.click("a:has-text('完成')")
    page.wait_for_selector(".tile-bills")
    assert "3-2-1201" not in kiosk_session(page, kiosk)
    page.goto(kiosk.url + "bills/list")
    page.wait_for_selector("text=扫描住户二维码")
    assert "2.50 元" not in page.inner_text("main")


def test_room_and_digits_wrong_then_right(hall, browser):
    kiosk, key, photos, store = hall
    page = kiosk_page(browser, kiosk.url + "bills/")
    page.click("#room")
    for ch in "3-2-1202":
        page.click(f".keypad .key[data-key='{ch}']")
    page.click("#last4")
    for ch in "1111":
        page.click(f".keypad .key[data-key='{ch}']")
    page.click("button:has-text('查看我的账单')")
    page.wait_for_selector(".result.bad")
    assert "房号与手机号后 4 位和登记信息不一致" in page.inner_text(".result.bad")
    assert page.input_value("#room") == "3-2-1202" and page.input_value("#last4") == ""
    check(page, "4-wrong-digits")
    page.click("#last4")
    for ch in "4321":
        page.click(f".keypad .key[data-key='{ch}']")
    page.click("button:has-text('查看我的账单')")
    page.wait_for_selector(".bill-line")
    text = page.inner_text("main")
    assert "李*" in text and "3-2-1202" in text and "车位管理费" not in text  # that household has no parking line


def test_pick_building_unit_and_room_instead_of_typing(hall, browser):
    kiosk, key, photos, store = hall
    page = kiosk_page(browser, kiosk.url + "bills/")
    page.click("a.pick-room")
    page.wait_for_selector(".pick-grid .pick")
    assert "3 栋" in page.inner_text(".pick-grid")
    check(page, "6-pick-building")
    page.click(".pick-grid .pick:has-text('3 栋')")
    page.wait_for_selector(".instruction:has-text('哪个单元')")
    page.click(".pick-grid .pick:has-text('2 单元')")
    page.wait_for_selector("form.rooms")
    assert {"1201", "1202"} <= set(page.inner_text("form.rooms").split())
    assert "张" not in page.content() and "李" not in page.content()  # rooms only, nobody's name
    check(page, "7-pick-room")
    page.click("form.rooms button:text-is('1202')")
    page.wait_for_selector("#last4")
    assert page.input_value("#room") == "3-2-1202"
    page.click("#last4")
    for ch in "4321":
        page.click(f".keypad .key[data-key='{ch}']")
    page.click("button:has-text('查看我的账单')")
    page.wait_for_selector(".bill-line")
    assert "李*" in page.inner_text("main") and "3-2-1202" in page.inner_text("main")


def test_forged_and_foreign_codes_are_refused_with_a_message(hall, browser):
    kiosk, key, photos, store = hall
    page = kiosk_page(browser, kiosk.url + "bills/")
    hold_up(photos, resident_qr.issue(KEY, hall=HALL, room="3-2-1201", expires=time.time() + 600), "forged")
    page.click("button:has-text('扫描住户二维码')")
    page.wait_for_selector(".result.bad")
    assert "不是物业服务中心签发的" in page.inner_text(".result.bad")
    assert not page.query_selector(".bill-line")
    check(page, "5-forged")
    (photos / "forged.png").unlink()  # the camera reads the newest picture; leave one
    hold_up(photos, resident_qr.issue(key, hall="elsewhere", room="3-2-1201", expires=time.time() + 600), "other")
    page.click("button:has-text('扫描住户二维码')")
    page.wait_for_selector(".result.bad:has-text('其他小区')")
    (photos / "other.png").unlink()
    hold_up(photos, "http://hall.example/t/1012611240429", "receipt")
    page.click("button:has-text('扫描住户二维码')")
    page.wait_for_selector(".result.bad:has-text('这不是住户二维码')")
    assert "2.50 元" not in page.content()
