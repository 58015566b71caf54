"""The central server against its own OpenAPI document, with schemathesis.

The document is loaded from the running app (WSGI, ``/api/v1/openapi.json``) and every
operation gets schemathesis-made requests: valid ones and invalid ones (negative mode), with
a real provisioned edge credential, then with none and with a made-up one. Each answer goes
through schemathesis' standard checks: no 5xx, the status is one the document lists, the
content type and the body match the document, invalid data is refused with a 4xx, valid
data is not refused with a 400/422, and an operation that needs a credential refuses a
request without one. The main run is on SQLite; the same run goes against a real PostgreSQL
(``pg_server`` from ``tests/conftest.py``). Hypothesis is derandomized: a run is repeatable.

Schemathesis' own pytest plugin (``schemathesis.pytest.from_fixture``) does not work with
pytest 9.2 (it writes ``Function._nodeid``, which pytest removed), so the tests drive each
operation's hypothesis strategy (``APIOperation.as_strategy``) themselves.

The ``test_fixed_*`` tests at the end are the bugs schemathesis found, each reduced to the
request that showed it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import load_all_checks
from schemathesis.config import SchemathesisConfig

import central_sync.server
from central_sync.server import credentials
from central_sync.server.openapi import document
from central_sync.server.resident_demo import DEMO_ROOM, load_demo
from central_sync.store import Store
from hall_common.config import CentralConfig

from .conftest import examples

load_all_checks()
from schemathesis import checks  # noqa: E402  (the check functions exist once loaded)

DOCUMENT_PATH = "/api/v1/openapi.json"
OPERATIONS = sorted(op["operationId"] for ops in document()["paths"].values() for op in ops.values())
WITH_INPUT = sorted(op["operationId"] for ops in document()["paths"].values() for op in ops.values()
                    if op.get("parameters") or op.get("requestBody"))
"""Operations that take something a request can get wrong (the others have no negative cases)."""
SECURED = sorted(op["operationId"] for ops in document()["paths"].values() for op in ops.values() if op.get("security") != [])
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_headers_conformance, checks.response_schema_conformance, checks.negative_data_rejection,
          checks.positive_data_acceptance, checks.ignored_auth, checks.missing_required_header]
"""The standard checks that judge one answer (the stateful ones need a scenario of calls)."""
NO_POSITIVE_ACCEPTANCE = {"postPaymentNotification", "postRefundNotification"}
"""A notification that fits the schema is still refused (400) unless WeChat Pay signed it:
the signature is what the document cannot describe."""
FIXED: dict[str, dict[str, Any]] = {"postPaymentNotification": {"path_parameters": {"provider": "sandbox"}},
                                    "postRefundNotification": {"path_parameters": {"provider": "sandbox"}}}
"""Parts held fixed in the main run: a made-up provider name only ever meets a 404."""
MAX_EXAMPLES = examples(60)
FUZZ = settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])


@dataclass
class Centre:
    app: Any
    store: Store
    token: str
    url: str

    def config(self, *, token: str | None) -> SchemathesisConfig:
        """Schemathesis' configuration: ``token`` as the node credential (none: send none;
        the no/bad credential cases are their own test, so negative cases spend themselves
        on the parameters and bodies), and no made-up extra query parameters or headers (the
        API ignores unknown ones, as HTTP APIs do; an unknown JSON field is refused)."""
        data: dict[str, Any] = {"generation": {"allow-extra-parameters": False, "with-security-parameters": False}}
        if token is not None:
            data["auth"] = {"openapi": {"node": {"bearer": token}}}
        return SchemathesisConfig.from_dict(data)

    def schema(self, *, token: str | None, own_hall: bool = False):
        """The document as the app serves it; ``own_hall``: batches name the caller's hall,
        so generated records get past the hall check into the ingest and its projections."""
        schema = schemathesis.openapi.from_wsgi(DOCUMENT_PATH, self.app, config=self.config(token=token))
        if own_hall:
            @schema.hook("map_body")
            def name_own_hall(context, body):
                if context.operation.path == "/api/v1/sync/batches" and isinstance(body, dict):
                    return {**body, "hall_id": "h1"}
                return body
        return schema


@pytest.fixture(params=["sqlite", "postgresql"])
def centre(request, tmp_path) -> Iterator[Centre]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/central.db"
    else:
        url = request.getfixturevalue("pg_server").create_database(f"fuzz_{uuid.uuid4().hex[:12]}")
    cfg = CentralConfig(data_dir=tmp_path / "c", database_url=url, http={"port": 1}, demo=True,
                        payments={"sweep_s": 0})
    app = central_sync.server.create_app(cfg, {"PAYMENTS_SWEEP": False})
    store = Store.connect(url)
    credentials.register_hall(store, "h1", "幸福里")
    credentials.register_hall(store, "h2", "长寿苑")
    token = credentials.issue(store, "h1", "edge")
    load_demo(store, "h1")
    yield Centre(app, store, token, url)
    app.extensions["payments"].close()
    pool = app.extensions.get("store_pool")
    if pool is not None:
        pool.close()
    store.close()


def fuzz(operation, mode: GenerationMode, *, check=CHECKS, headers: dict[str, str] | None = None, **fixed: Any) -> Counter:
    """Run ``operation``'s generated cases through ``check``; the statuses seen, by count.
    A failing check raises with schemathesis' report (the request as a curl command)."""
    statuses: Counter = Counter()
    wanted = [c for c in check if not (operation.definition.raw.get("operationId") in NO_POSITIVE_ACCEPTANCE
                                       and c is checks.positive_data_acceptance)]

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def run(case) -> None:
        response = case.call_and_validate(headers=headers, checks=wanted)
        statuses[response.status_code] += 1

    run()
    return statuses


@pytest.mark.parametrize(("operation_id", "mode"),
                         [(o, GenerationMode.POSITIVE) for o in OPERATIONS] + [(o, GenerationMode.NEGATIVE) for o in WITH_INPUT],
                         ids=lambda v: v.value if isinstance(v, GenerationMode) else v)
def test_every_operation_answers_as_documented(centre, operation_id, mode, record_property):
    schema = centre.schema(token=centre.token, own_hall=mode is GenerationMode.POSITIVE)
    operation = schema.find_operation_by_id(operation_id)
    started = time.perf_counter()
    statuses = fuzz(operation, mode, **FIXED.get(operation_id, {}))
    record_property("cases", sum(statuses.values()))
    record_property("seconds", round(time.perf_counter() - started, 2))
    record_property("statuses", dict(statuses))
    assert sum(statuses.values()) > 0
    if operation_id in SECURED:  # the real credential was sent: something other than 401 came back
        assert set(statuses) - {401}, statuses


@pytest.mark.parametrize("token", [None, "made-up-token"], ids=["no-token", "bad-token"])
@pytest.mark.parametrize("operation_id", SECURED)
def test_no_or_a_bad_credential_is_refused_as_documented(centre, operation_id, token, record_property):
    schema = centre.schema(token=None)
    operation = schema.find_operation_by_id(operation_id)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    statuses = fuzz(operation, GenerationMode.POSITIVE, headers=headers)
    record_property("cases", sum(statuses.values()))
    assert set(statuses) == {401}, statuses


def test_the_notification_past_the_serial_check(centre, record_property):
    """Random headers never name the sandbox's platform key; with its real serial the
    generated notifications reach the timestamp, signature and body checks."""
    operation = centre.schema(token=None).find_operation_by_id("postPaymentNotification")
    serial = centre.app.extensions["payments"].provider.serial
    statuses = fuzz(operation, GenerationMode.POSITIVE, path_parameters={"provider": "sandbox"},
                    headers={"Wechatpay-Serial": serial})
    record_property("cases", sum(statuses.values()))
    assert statuses and set(statuses) == {400}, statuses


def test_answers_that_succeed_match_the_document(centre):
    """Generated requests rarely name a real room, bill line or order; these do, so every
    success answer (bills, rooms, order made, order read, notification, batch, feeds) is
    checked against the document too."""
    schema = centre.schema(token=centre.token)

    def call(operation_id: str, **parts: Any):
        case = schema.find_operation_by_id(operation_id).Case(**parts)  # an explicit case: auth is ours to add
        return case.call_and_validate(headers={"Authorization": f"Bearer {centre.token}"}, checks=CHECKS)

    bills = call("postResidentBills", body={"kiosk": "kiosk-01", "room": DEMO_ROOM, "last4": "5678"})
    assert bills.status_code == 200 and bills.json()["household"]["name"] == "张*"
    assert DEMO_ROOM in [r["room"] for r in call("getResidentRooms").json()["rooms"]]
    unpaid = [line["id"] for line in bills.json()["unpaid"]]
    made = call("postPaymentOrder", body={"room": DEMO_ROOM, "bill_ids": unpaid[:2], "kiosk": "kiosk-01"})
    assert made.status_code == 201
    order = made.json()
    view = call("getPaymentOrder", path_parameters={"order_id": order["order_id"]}, query={"wait": 0})
    assert view.json()["status"] == "created" and len(view.json()["lines"]) == 2

    sandbox = centre.app.extensions["payments"].provider
    sandbox.pay(order["out_trade_no"], deliver=False)
    headers, body = sandbox.notification(order["out_trade_no"])  # signed over these exact bytes
    notify = schema.find_operation_by_id("postPaymentNotification")
    case = notify.Case(path_parameters={"provider": "sandbox"}, headers=headers, body=json.loads(body))
    paid = centre.app.test_client().post("/api/v1/payments/notify/sandbox", data=body, headers=headers,
                                         content_type="application/json")
    case.validate_response(paid, checks=CHECKS)
    assert paid.json["code"] == "SUCCESS"
    assert call("getPaymentOrder", path_parameters={"order_id": order["order_id"]}).json()["status"] == "paid"

    record = {"id": str(uuid.uuid4()), "kind": "complaint", "node": "kiosk-01", "ts": time.time(), "body": {"text": "电梯异响"}}
    ack = call("postBatch", body={"hall_id": "h1", "sent_at": time.time(), "records": [record]})
    assert ack.json()["applied"] == [record["id"]]
    with centre.store.transaction():
        centre.store.execute("INSERT INTO content (hall_id, kind, key, body, deleted, published_by, published_at) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)",
                             ("*", "announcement", "a1", json.dumps({"title": "停水通知"}), False, "admin", time.time()))
    assert call("getContent", query={"after": 0}).json()["items"][0]["key"] == "a1"
    assert call("getConfigs", query={"after": 0}).json()["items"] == []

    from central_sync.server.enrolment import add_device

    _, code = add_device(centre.store, "h1", "board", "display-01", by="admin")
    assert call("postEnrol", body={"code": code}).json()["node_id"] == "display-01"
    assert [r["user"] for r in call("getRoster").json()["logins"]] == ["display-01"]


# -- what schemathesis found, each reduced to the request that showed it ----------------------


def bearer(centre: Centre) -> dict[str, str]:
    return {"Authorization": f"Bearer {centre.token}"}


@pytest.mark.parametrize("feed", ["configs", "content"])
def test_fixed_a_cursor_past_a_bigint_is_refused_not_a_500(centre, feed):
    """``after=2**63`` could not even be bound by SQLite (OverflowError, a 500); a negative
    cursor was answered as if it were one."""
    c = centre.app.test_client()
    for bad in (2**63, 10**30, -1):
        r = c.get(f"/api/v1/sync/{feed}?after={bad}", headers=bearer(centre))
        assert r.status_code == 422 and r.json["detail"].startswith("after"), (bad, r.status_code)
    r = c.get(f"/api/v1/sync/{feed}?after={2**63 - 1}", headers=bearer(centre))
    assert r.status_code == 200 and r.json == {"items": [], "cursor": 2**63 - 1}


def test_fixed_a_wait_that_is_not_seconds_from_0_to_25_is_refused(centre):
    """``wait=nan`` never timed out: the long poll looked at the database in a busy loop
    until the order was paid or closed. Out-of-range waits are refused like the document says."""
    c = centre.app.test_client()
    bills = c.post("/api/v1/residents/bills", json={"room": DEMO_ROOM, "last4": "5678"}, headers=bearer(centre)).json
    made = c.post("/api/v1/payments/orders", json={"room": DEMO_ROOM, "bill_ids": [bills["unpaid"][0]["id"]]},
                  headers=bearer(centre)).json
    for bad in ("nan", "inf", "-1", "26", "soon"):
        r = c.get(f"/api/v1/payments/orders/{made['order_id']}?wait={bad}", headers=bearer(centre))
        assert r.status_code == 422 and r.json["detail"].startswith("wait"), bad
    r = c.get(f"/api/v1/payments/orders/{made['order_id']}?wait=0", headers=bearer(centre))
    assert r.status_code == 200 and r.json["status"] == "created"


def test_fixed_a_nul_in_a_record_body_is_kept_as_a_replacement_character(centre):
    """PostgreSQL holds no NUL in text or JSONB: such a batch was a 500, and the hall's
    outbox would have sent it again forever. Now it is applied (on both databases alike)."""
    rid = str(uuid.uuid4())
    record = {"id": rid, "kind": "complaint", "node": "kiosk-01", "ts": time.time(), "body": {"text": "电梯\x00异响", "k\x00": ["\x00"]}}
    batch = {"hall_id": "h1", "sent_at": time.time(), "records": [record]}
    c = centre.app.test_client()
    first = c.post("/api/v1/sync/batches", json=batch, headers=bearer(centre))
    assert first.status_code == 200 and first.json["applied"] == [rid]
    stored = centre.store.scalar("SELECT body FROM records WHERE id = ?", (rid,))
    stored = stored if isinstance(stored, dict) else json.loads(stored)
    assert stored == {"text": "电梯\ufffd异响", "k\ufffd": ["\ufffd"]}
    again = c.post("/api/v1/sync/batches", json=batch, headers=bearer(centre))
    assert again.status_code == 200 and again.json["duplicates"] == [rid]


def test_fixed_a_nul_in_a_bills_or_order_request_is_refused(centre):
    """A NUL in ``kiosk`` was a 500 on PostgreSQL (the wrong-attempt counter and the order
    both keep it); now a 422, and nothing is written."""
    c = centre.app.test_client()
    r = c.post("/api/v1/residents/bills", json={"kiosk": "k\x00", "room": DEMO_ROOM, "last4": "0000"}, headers=bearer(centre))
    assert r.status_code == 422 and "NUL" in r.json["detail"]
    assert centre.store.scalar("SELECT count(*) FROM resident_failures") == 0
    lines = c.post("/api/v1/residents/bills", json={"room": DEMO_ROOM, "last4": "5678"}, headers=bearer(centre)).json["unpaid"]
    r = c.post("/api/v1/payments/orders", json={"room": DEMO_ROOM, "bill_ids": [lines[0]["id"]], "kiosk": "k\x00"},
               headers=bearer(centre))
    assert r.status_code == 422 and "NUL" in r.json["detail"]
    assert centre.store.scalar("SELECT count(*) FROM payment_orders") == 0
    assert centre.store.scalar("SELECT count(*) FROM bill_lines WHERE order_id IS NOT NULL") == 0


def test_fixed_a_bills_request_names_only_its_own_fields(centre):
    """The document said any object with room and last4 was a bills request, and the server
    ignored other fields; both now say: kiosk, qr, room, last4 and nothing else."""
    r = centre.app.test_client().post("/api/v1/residents/bills", json={"room": DEMO_ROOM, "last4": "5678", "name": "张三"},
                                      headers=bearer(centre))
    assert r.status_code == 422 and "nothing else" in r.json["detail"]
    body = document()["paths"]["/api/v1/residents/bills"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False and body["properties"]["room"]["pattern"]


def test_fixed_a_notification_timestamp_of_other_digits_is_refused_not_a_500(centre):
    """``"²".isdigit()`` is true and ``int("²")`` raises: a notification naming the platform
    key's serial with such a timestamp was a 500 (found while steering the fuzzing past
    the serial check, by reading the code it reached)."""
    serial = centre.app.extensions["payments"].provider.serial
    headers = {"Wechatpay-Timestamp": "²", "Wechatpay-Nonce": "n", "Wechatpay-Signature": "s", "Wechatpay-Serial": serial}
    r = centre.app.test_client().post("/api/v1/payments/notify/sandbox", data=b"{}", headers=headers,
                                      content_type="application/json")
    assert r.status_code == 400 and r.json == {"code": "FAIL", "message": "stale"}
