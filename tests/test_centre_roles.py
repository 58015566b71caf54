"""Roles at the centre, route by route (issue 18 item 7): every route of the admin console
says its action, every role gets exactly what central_sync/server/access.py PERMITS, and a
hall manager of east-a is refused west-b's data, or shown none of it.

The test walks the app's URL map, so a route added later cannot slip past: it fails (a)
without ``@access.require`` and (b), if it takes URL arguments or a POST, until it has an
entry in CASES. Two halls are planted with data carrying a marker each (east-a's
MARK-EAST-A, west-b's MARK-WEST-B): complaints, ratings, registers, handover sheets, kiosks,
announcements, disclosures, audit lines. On SQLite and PostgreSQL, as the centre runs on
both (the narrowing is SQL)."""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import tomli_w

from central_sync.server import access, accounts, audit, credentials
from central_sync.server import disclosure_doc as doc

from .helpers.central import central_app
from .minihall import SETTINGS

A, B = "east-a", "west-b"
MARK = {A: "MARK-EAST-A", B: "MARK-WEST-B"}
NAMES = {A: "东区甲", B: "西区乙"}
TRACKING = {A: "1000000000001", B: "2000000000002"}
ROLLOUT = {A: 101, B: 102}
DEVICE = {A: "device-east-a", B: "device-west-b"}
DISCLOSURE = {A: "disc-east-a", B: "disc-west-b", "*": "disc-every-hall"}
ORDER = {A: "0000000a-0000-4000-8000-00000000000a", B: "0000000b-0000-4000-8000-00000000000b"}
"""Each hall's payment that took money and settled nothing: the refund pages' subject."""
PASSWORD = "role password 1"
USERS = {"admin": ("admin", []), "manager": ("manager", [A]), "auditor": ("auditor", [])}
"""The matrix's three users: user name -> (role, halls). The manager's hall is east-a."""

EXEMPT_BLUEPRINTS = {
    "static": "files",
    "health": "the load balancer's health check",
    "auth": "login and logout",
    "api": "halls' sync API, authenticated by each node's bearer token",
    "payments": "halls' payment API (bearer token) and the provider's signed notifications",
    "sandbox_pay": "the demo centre's stand-in for the payer's phone (not the console)",
    "enrol_api": "a new Pi's one-time join code, and the hall edge's bearer token for its broker roster",
}
"""Blueprints that are not the admin console; a new API for halls or devices that
authenticates by token (not a console login) is added here, with why."""


@dataclass(frozen=True)
class Call:
    """One request: ``path`` with its arguments filled in, ``form`` for a POST (the CSRF
    token is added)."""

    method: str
    path: str
    form: dict[str, str] = field(default_factory=dict)


def post(path: str, **form: str) -> Call:
    return Call("POST", path, form)


def get(path: str) -> Call:
    return Call("GET", path)


NEW_SETTINGS = tomli_w.dumps(SETTINGS)
YESTERDAY = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600 - 86400))
"""Yesterday in China: a day reconciliation accepts."""
CONFIG_FORM = {"info.service_phone": "028-1234 5678", "info.complaint_phone": "028-1234 5679", "languages": "zh_CN"}
"""The least the kiosk settings form needs to save."""
DISCLOSURE_FORM = {"category": "licence", "title": "营业执照", "effective_date": "2026-01-01", "body": "见附件"}

# CASES: endpoint -> (a call on east-a's data, or on nothing hall's for a company-wide route;
#                     calls on others' data: west-b's, and "every hall" where that is a scope).
# Every route with URL arguments or a POST needs an entry (test (b) names the missing ones);
# a GET list page without arguments needs none (it is called as is and searched for west-b's
# marker), but may have one to add a filter (e.g. ?hall=west-b). To add a route: plant what
# it shows for both halls in ``plant`` below (or use what is there: TRACKING, DISCLOSURE,
# the kiosks kiosk-east-a and kiosk-west-b, config version 1), then add
#     "blueprint.view": (post("/thing/east-a-id/act", field="..."), [post("/thing/west-b-id/act", ...)]),
# The call on east-a must succeed (status < 400) for every role PERMITS allows; the others'
# must be refused (403, writing nothing) to the manager of east-a, or show nothing of west-b.
# A route that changes the calling data (disable, withdraw) is called on west-b's first.
CASES: dict[str, tuple[Call, list[Call]]] = {
    "configs.create": (post("/configs/", settings=NEW_SETTINGS, note="matrix"), []),  # the company's library
    "configs.publish": (post("/configs/1/publish", hall=A), [post("/configs/1/publish", hall=B)]),
    "config_views.form": (get(f"/configs/form?hall={A}"), [get(f"/configs/form?hall={B}")]),
    "config_views.draft": (post("/configs/form/draft", hall=A, op="add-services"),
                           [post("/configs/form/draft", hall=B, op="add-services")]),
    "config_views.save": (post("/configs/form", hall=A, publish=f"kiosk-{A}", **CONFIG_FORM),
                          [post("/configs/form", hall=B, publish=f"kiosk-{B}", **CONFIG_FORM)]),
    "config_views.versions": (get(f"/configs/versions?hall={A}"), [get(f"/configs/versions?hall={B}")]),
    "config_views.diff": (get("/configs/diff?a=1&b=1"), []),  # versions are the company's library
    "config_views.preview_version": (get(f"/configs/1/preview?hall={A}"), [get(f"/configs/1/preview?hall={B}")]),
    "config_views.preview": (get(f"/configs/preview/{{preview:{A}}}/zh_CN/"), [get(f"/configs/preview/{{preview:{B}}}/zh_CN/")]),
    "config_views.publish_to": (post("/configs/1/publish-to", hall=A), [post("/configs/1/publish-to", hall=B)]),
    "config_views.rollback": (post("/configs/1/rollback", hall=A), [post("/configs/1/rollback", hall=B)]),
    "content.publish": (post("/announcements/", hall=A, text="东区通知"),
                        [post("/announcements/", hall=B, text="西区通知"), post("/announcements/", hall="*", text="全部")]),
    "disclosures.index": (get(f"/disclosures/?edit={DISCLOSURE[A]}"), [get(f"/disclosures/?edit={DISCLOSURE[B]}")]),
    "disclosures.publish": (post("/disclosures/", hall=A, **DISCLOSURE_FORM),
                            [post("/disclosures/", hall=B, **DISCLOSURE_FORM),
                             post("/disclosures/", hall="*", **DISCLOSURE_FORM),
                             post("/disclosures/", hall=A, id=DISCLOSURE[B], **DISCLOSURE_FORM)]),  # moving west-b's to east-a
    "disclosures.withdraw": (post(f"/disclosures/{DISCLOSURE[A]}/withdraw"),
                             [post(f"/disclosures/{DISCLOSURE[B]}/withdraw"),
                              post(f"/disclosures/{DISCLOSURE['*']}/withdraw")]),
    "complaints.index": (get(f"/complaints/?hall={A}"), [get(f"/complaints/?hall={B}")]),
    "complaints.detail": (get(f"/complaints/{TRACKING[A]}"), [get(f"/complaints/{TRACKING[B]}")]),
    "handovers.index": (get(f"/handovers/?hall={A}"), [get(f"/handovers/?hall={B}")]),
    "devices.index": (get(f"/devices/?hall={A}"), [get(f"/devices/?hall={B}")]),
    "devices.add": (post("/devices/", hall=A, role="kiosk", name="kiosk-09"),
                    [post("/devices/", hall=B, role="kiosk", name="kiosk-09")]),
    "devices.new_code": (post(f"/devices/{DEVICE[A]}/code"), [post(f"/devices/{DEVICE[B]}/code")]),
    "devices.retire": (post(f"/devices/{DEVICE[A]}/retire"), [post(f"/devices/{DEVICE[B]}/retire")]),
    "rollouts.start": (post("/rollouts/", version="1", halls=A, stages=f"kiosk-{A}", gate_minutes="30"),
                       [post("/rollouts/", version="1", halls=B, stages=f"kiosk-{B}", gate_minutes="30")]),
    "rollouts.show": (get(f"/rollouts/{ROLLOUT[A]}"), [get(f"/rollouts/{ROLLOUT[B]}")]),
    "rollouts.proceed": (post(f"/rollouts/{ROLLOUT[A]}/continue"), [post(f"/rollouts/{ROLLOUT[B]}/continue")]),
    "rollouts.stop": (post(f"/rollouts/{ROLLOUT[A]}/abort"), [post(f"/rollouts/{ROLLOUT[B]}/abort")]),
    "rollouts.save_settings": (post("/rollouts/settings", target="board", settings="voice = false\n"), []),  # the library
    "fleet.index": (get(f"/?hall={A}"), [get(f"/?hall={B}")]),
    "fleet.state": (get(f"/fleet.json?hall={A}"), [get(f"/fleet.json?hall={B}")]),
    "fleet.set_region": (post(f"/fleet/halls/{A}/region", region="东区"), [post(f"/fleet/halls/{B}/region", region="西区")]),
    # Company-wide: a day's run asks every provider (manage); the page itself narrows by hall.
    "reconciliation.run": (post("/reconciliation/run", day=YESTERDAY), []),
    "reports.index": (get(f"/reports/?month=2026-03&hall={A}"), [get(f"/reports/?month=2026-03&hall={B}")]),
    "reports.export_csv": (get(f"/reports/export.csv?month=2026-03&hall={A}"),
                           [get(f"/reports/export.csv?month=2026-03&hall={B}")]),
    "reports.export_xlsx": (get(f"/reports/export.xlsx?month=2026-03&hall={A}"),
                            [get(f"/reports/export.xlsx?month=2026-03&hall={B}")]),
    "payment_console.index": (get(f"/payments/?hall={A}"), [get(f"/payments/?hall={B}")]),
    "payment_console.order": (get(f"/payments/{ORDER[A]}"), [get(f"/payments/{ORDER[B]}")]),
    "payment_console.refund": (post(f"/payments/{ORDER[A]}/refund", scope="full", reason="matrix"),
                               [post(f"/payments/{ORDER[B]}/refund", scope="full", reason="matrix")]),
    "admin.add_hall": (post("/halls", hall_id="new-hall", name="新厅"), []),  # company-wide: admins
    "users.add": (post("/users/", username="new-user", password="new password 1", role="manager", halls=A), []),
    "users.change": (post("/users/spare", role="manager", halls=A), []),
    "users.disable": (post("/users/spare/disable"), []),
    "users.enable": (post("/users/spare/enable"), []),
}

SHOWS_EVERY_HALL = {"reports.index", "rollouts.index", "devices.index", "admin.overview", "admin.registers", "configs.index", "content.index", "disclosures.index",
                    "complaints.index", "complaints.stats", "payment_console.index"}
"""List pages where an admin sees west-b's data: proof that what the manager does not see
was there to be seen."""

WRITES = ("halls", "configs", "config_assignments", "content", "audit_log", "users", "user_halls", "devices", "join_codes", "rollouts",
          "rollout_nodes", "payment_refunds", "payment_refund_lines", "payment_events")
"""Tables a refused request must leave as they were."""


def plant(store: Any, hall: str) -> None:
    """A hall with something on every page, each piece carrying the hall's marker."""
    mark, now = MARK[hall], time.time()
    credentials.register_hall(store, hall, f"{NAMES[hall]} {mark}")
    cid = str(uuid.uuid4())
    store.execute(
        "INSERT INTO complaints (id, hall_id, tracking_no, kind, category, place, content, channel, grade, received_at, "
        "feedback_due, accept_by, month, status, status_ts, responded_at) "
        "VALUES (?, ?, ?, 'repair', 'facilities', ?, ?, 'kiosk', 'general', ?, ?, ?, '2026-03', 'accepted', ?, ?)",
        (cid, hall, TRACKING[hall], f"{mark} 3 栋", f"门禁坏了 {mark}", now - 7200, now - 3600, now - 3600, now - 5000,
         now - 5000))
    store.execute("INSERT INTO complaint_events (id, complaint_id, hall_id, ts, action, status, who, note, rating) "
                  "VALUES (?, ?, ?, ?, 'rate', NULL, 'resident', ?, 'satisfied')", (str(uuid.uuid4()), cid, hall, now, mark))
    store.execute("INSERT INTO register_entries (id, hall_id, register, serial, status, opened_at, touched_at) "
                  "VALUES (?, ?, 'parcels', ?, 'open', ?, ?)", (str(uuid.uuid4()), hall, mark, now, now))
    sheet = {"shift": {"label": f"早班 {mark}", "staff": ["张三"], "opened_at": now - 28800, "opened_by": "staff",
                       "closed_at": now, "closed_by": "staff"},
             "sections": [{"title": "快递", "items": [{"text": f"未取件 {mark}"}]}],
             "takings": {"qr_fen": 100, "cash_counted_fen": 0, "cash_expected_fen": 0, "difference_fen": 0},
             "notes": mark}
    store.execute("INSERT INTO records (id, hall_id, node_id, kind, node_ts, received_at, body) "
                  "VALUES (?, ?, 'edge', 'handover', ?, ?, ?)",
                  (str(uuid.uuid4()), hall, now, now, json.dumps({"event": "closed", "shift": f"s-{hall}", "sheet": sheet})))
    store.execute("INSERT INTO hall_nodes (hall_id, node_id, kind, sw, config_version, node_ts) VALUES (?, ?, 'kiosk', '1', NULL, ?)",
                  (hall, f"kiosk-{hall}", now))
    store.execute("INSERT INTO content (hall_id, kind, key, body, deleted, published_by, published_at) "
                  "VALUES (?, 'announcement', 'line', ?, ?, 'admin', ?)", (hall, json.dumps({"text": mark}), False, now))
    body = doc.check({**DISCLOSURE_FORM, "title": f"公示 {mark}"})
    with store.transaction():
        doc.publish(store, body, hall=hall, user="admin", item_id=DISCLOSURE[hall])
    audit.write(store, "admin", "announcement.publish", {"text": mark}, hall=hall)
    store.execute("INSERT INTO devices (id, hall_id, node_id, role, created_by, created_at) VALUES (?, ?, ?, 'board', 'admin', ?)",
                  (DEVICE[hall], hall, f"board-{mark.lower()}", now))
    store.execute("INSERT INTO rollouts (id, version, target, halls, stages, gate_minutes, status, stage, halted_hall, "
                  "halted_node, halted_reason, created_by, created_at, updated_at) "
                  "VALUES (?, 1, 'kiosk', ?, '[{\"rest\": true}]', 30, 'halted', 0, ?, ?, ?, 'admin', ?, ?)",
                  (ROLLOUT[hall], json.dumps([hall]), hall, f"kiosk-{hall}", f"rejected {mark}", now, now))
    store.execute("INSERT INTO payment_orders (id, hall_id, room, kiosk, provider, out_trade_no, amount_fen, status, created_at, "
                  "expires_at, paid_at, transaction_id) VALUES (?, ?, '1-1-101', ?, 'sandbox', ?, 1000, 'paid_conflict', ?, ?, ?, "
                  "'4200')", (ORDER[hall], hall, f"kiosk-{hall}", f"HP{mark.replace('-', '')}", now - 900, now - 600, now - 300))


@pytest.fixture
def world(tmp_path, central_db):
    """Both halls planted, on SQLite and on PostgreSQL; the matrix's users and a spare one."""
    app, store, _ = central_app(tmp_path, central_db, halls=())
    plant(store, A)
    plant(store, B)
    with store.transaction():
        doc.publish(store, doc.check(DISCLOSURE_FORM), hall="*", user="admin", item_id=DISCLOSURE["*"])
    store.execute("INSERT INTO configs (version, body, note, created_by, created_at) VALUES (1, ?, 'v1', 'admin', ?)",
                  (json.dumps({}), time.time()))
    for name, (role, halls) in {**USERS, "spare": ("auditor", [])}.items():
        accounts.add(store, name, PASSWORD, role, halls, by="test")
    yield app, store
    store.close()
    pool = app.extensions.get("store_pool")
    if pool is not None:
        pool.close()


def login(app: Any, user: str) -> tuple[Any, str]:
    """A client logged in as ``user``, and a CSRF token of its session."""
    c = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    assert c.post("/login", data={"username": user, "password": PASSWORD, "csrf_token": token}).status_code == 302
    page = c.get("/").get_data(as_text=True)
    return c, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def send(client: Any, token: str, call: Call) -> Any:
    path = re.sub(r"\{preview:([\w-]+)\}", lambda m: preview_token(client.application, m.group(1)), call.path)
    if call.method == "GET":
        return client.get(path)
    return client.post(path, data={**call.form, "csrf_token": token})


def preview_token(app: Any, hall: str) -> str:
    """A kiosk preview of ``hall`` (its token is signed with the app's secret, so made here)."""
    from central_sync.server.config_preview import Previews

    return Previews(app.config["SECRET_KEY"]).token(hall_id=hall, hall_name=NAMES[hall], body=SETTINGS)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def text_of(answer: Any) -> str:
    """What a person reads in an answer: a page's text, or every cell of an XLSX export (its
    zipped bytes would hide a hall's name from the search)."""
    if answer.mimetype == XLSX and answer.status_code == 200:
        import io

        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(answer.get_data()), read_only=True)
        return "\n".join(str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row if v is not None)
    return answer.get_data().decode("utf-8", "replace")


def console_rules(app: Any) -> list[Any]:
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint.split(".")[0] not in EXEMPT_BLUEPRINTS),
                  key=lambda r: r.endpoint)


def action_of(app: Any, rule: Any) -> str | None:
    return getattr(app.view_functions[rule.endpoint], "access_action", None)


def counts(store: Any) -> dict[str, int]:
    return {t: store.scalar(f"SELECT count(*) FROM {t}") for t in WRITES} | {
        "disabled": store.scalar("SELECT count(*) FROM users WHERE disabled_at IS NOT NULL"),
        "roles": store.scalar("SELECT count(*) FROM users WHERE role = 'manager'")}


def unguarded(app: Any) -> list[str]:
    return [f"{r.endpoint} {r.rule}" for r in console_rules(app) if action_of(app, r) not in access.PERMITS["admin"]]


def uncased(app: Any) -> list[str]:
    return [f"{r.endpoint} {r.rule}" for r in console_rules(app)
            if (r.arguments or "POST" in r.methods) and r.endpoint not in CASES]


def test_every_console_route_says_its_action(world):
    """(a) Every route of the console is decorated with access.require, so its role is
    checked; anonymous visitors are sent to the login page."""
    app, _ = world
    rules = console_rules(app)
    assert len(rules) >= 15
    missing = unguarded(app)
    assert not missing, f"routes without @access.require(...): {missing}"
    anonymous = app.test_client()
    for r in rules:
        if "GET" in r.methods and not r.arguments:
            answer = anonymous.get(r.rule)
            assert answer.status_code == 302 and "/login" in answer.headers["Location"], r.endpoint


def test_every_route_with_arguments_or_a_post_has_a_case(world):
    """(b) The matrix cannot skip a route: one that takes URL arguments or a POST needs a
    CASES entry saying how to call it on east-a's data and on west-b's."""
    app, _ = world
    missing = uncased(app)
    assert not missing, f"add these to CASES in tests/test_centre_roles.py: {missing}"
    stale = set(CASES) - {r.endpoint for r in console_rules(app)}
    assert not stale, f"CASES names routes that do not exist: {stale}"


@pytest.mark.parametrize("central_db", ["sqlite"], indirect=True)
def test_a_forgotten_route_is_named(world):
    """The two checks above catch a route added without a decorator or a case."""
    app, _ = world
    app.add_url_rule("/forgotten/<thing>", "forgotten.view", lambda thing: thing)
    assert unguarded(app) == ["forgotten.view /forgotten/<thing>"]
    assert uncased(app) == ["forgotten.view /forgotten/<thing>"]


@pytest.mark.parametrize("user", list(USERS))
def test_role_by_route(world, user):
    """(c) Each role on each route: allowed or 403 as PERMITS says; the manager of east-a is
    refused west-b's data (403, nothing written) or shown none of it, and refused "every
    hall" where it is a scope the halls keep."""
    app, store = world
    role = USERS[user][0]
    client, token = login(app, user)
    problems: list[str] = []
    for rule in console_rules(app):
        action = action_of(app, rule)
        permitted = action in access.PERMITS[role]
        own, others = CASES.get(rule.endpoint, (get(rule.rule), []))
        for call, theirs in [*((c, True) for c in others), (own, False)]:  # west-b's first: some calls change what they act on
            before = counts(store)
            answer = send(client, token, call)
            status, page = answer.status_code, text_of(answer)
            where = f"{user} {call.method} {call.path} ({rule.endpoint}, {action})"
            if not permitted:
                if status != 403:
                    problems.append(f"{where}: {status}, expected 403")
            elif theirs and role == "manager":
                shown = status < 400 and (MARK[B] in page or B in page)
                if status not in (403, 404) and (status >= 400 or shown or call.method == "POST"):
                    problems.append(f"{where}: {status}, another hall's data not refused")
            elif status >= 400:
                problems.append(f"{where}: {status}, expected it allowed")
            if status == 403 and counts(store) != before:
                problems.append(f"{where}: refused but wrote {before} -> {counts(store)}")
    assert not problems, "\n".join(problems)


def test_list_pages_show_a_manager_only_their_halls(world):
    """GET pages without arguments, as the manager of east-a: nothing of west-b (its id,
    its name, its marker), while the admin sees west-b on the pages that list every hall
    and the manager sees east-a's."""
    app, _ = world
    manager, _ = login(app, "manager")
    admin, _ = login(app, "admin")
    pages = [r for r in console_rules(app) if "GET" in r.methods and not r.arguments]
    problems = []
    for r in pages:
        if action_of(app, r) not in access.PERMITS["manager"]:
            continue
        page = text_of(manager.get(r.rule))
        for leak in (B, MARK[B], NAMES[B]):
            if leak in page:
                problems.append(f"{r.endpoint} {r.rule} shows the manager of {A} {leak!r}")
        if r.endpoint in SHOWS_EVERY_HALL:
            seen = text_of(admin.get(r.rule))
            if B not in seen and MARK[B] not in seen:
                problems.append(f"{r.endpoint}: the admin does not see {B}: the check above proves nothing")
            if A not in page and MARK[A] not in page:
                problems.append(f"{r.endpoint}: the manager does not see their own hall {A}")
    assert not problems, "\n".join(problems)


def test_a_manager_publishes_only_to_their_own_halls(world):
    """Publishing a configuration to "all" as a manager reaches their halls' kiosks only;
    the audit lines say which hall, and the manager reads only theirs."""
    app, store = world
    manager, token = login(app, "manager")
    assert send(manager, token, post("/configs/1/publish", hall="*")).status_code == 302
    reached = store.query("SELECT hall_id, node_id FROM config_assignments")
    assert reached == [{"hall_id": A, "node_id": f"kiosk-{A}"}]
    assert store.query("SELECT hall_id FROM audit_log WHERE action = 'config.publish'") == [{"hall_id": A}]
    page = manager.get("/configs/").get_data(as_text=True)
    assert "config.publish" in page and MARK[A] in page and MARK[B] not in page


def test_old_centre_roles_become_auditors(tmp_path):
    """A centre that gave edge roles (viewer, staff) before it had its own: 016_roles makes
    them auditors, so they keep reading and do not write."""
    from central_sync.server.schema import MIGRATIONS
    from central_sync.store import Store, migrate
    from hall_common.auth import _hasher

    url = f"sqlite:///{tmp_path}/old.db"
    store = Store.connect(url)
    migrate(store, [m for m in MIGRATIONS if m.name < "016"])
    for name, role in (("v", "viewer"), ("s", "staff"), ("boss", "admin")):
        store.execute("INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, 0)",
                      (name, _hasher.hash(PASSWORD), role))
    store.execute("INSERT INTO audit_log (ts, username, action, detail) VALUES (0, 'boss', 'config.create', '{}')")
    assert migrate(store, MIGRATIONS)[0] == "016_roles"
    assert {r["username"]: r["role"] for r in store.query("SELECT username, role FROM users")} == {
        "v": "auditor", "s": "auditor", "boss": "admin"}
    assert store.query("SELECT hall_id FROM audit_log") == [{"hall_id": None}]
    store.close()
