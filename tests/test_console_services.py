"""How the staff console reaches the agent's services (``edge_agent.console_services``): a
page whose service is not running answers a clear 503 page in Chinese and English, a page
that can do without it still answers, and ``app.config`` holds settings only, never a live
service. Flask test client on the console's real SQLite file."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest

import edge_agent
from edge_agent.alarms import Alarms
from edge_agent.console_services import WHAT
from edge_agent.metrics import EdgeMetrics
from edge_agent.services import NAMES, EdgeServices

from .helpers.edge_inputs import console_config as edge_config

OLD_KEYS = {"PRINTING", "QUEUE", "COMPLAINTS", "ALARMS", "PAYMENTS", "AED", "FIRST_AID", "ENVIRONMENT", "METRICS"}


def csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def logged_in(app):
    """A staff member's test client, and the form token of their session."""
    c = app.test_client()
    assert c.post("/login", data={"username": "staff", "password": "correct horse 1",
                                  "csrf_token": csrf(c, "/login")}).status_code == 302
    return c, csrf(c, "/")


@pytest.fixture
def bare(tmp_path):
    """A console started without the agent: no service is running."""
    return edge_agent.create_app(edge_config(tmp_path))


@pytest.mark.parametrize(("method", "path", "zh", "en"), [
    ("get", "/counters", "排队叫号服务未运行", "The queue service is not running"),
    ("get", "/stats", "排队叫号服务未运行", "The queue service is not running"),
    ("get", "/complaints/", "报事投诉服务未运行", "The request and complaint service is not running"),
    ("get", "/complaints/c-1", "报事投诉服务未运行", "The request and complaint service is not running"),
    ("get", "/complaints/new", "报事投诉服务未运行", "The request and complaint service is not running"),
    ("get", "/first-aid/", "急救箱管理未运行", "The first-aid service is not running"),
    ("get", "/environment/env-01", "环境监测未运行", "The environment monitor is not running"),
    ("post", "/alarms/printer-1.paper/ack", "告警服务未运行", "The alarm service is not running"),
    ("post", "/aed/expiry", "AED 监测未运行", "The AED monitor is not running"),
    ("post", "/payments/o-1/receipt", "缴费服务未运行", "The payment service is not running"),
    ("get", "/handover/", "交接班服务未运行", "The shift handover service is not running"),
    ("post", "/handover/s-1/ack", "交接班服务未运行", "The shift handover service is not running"),
    ("get", "/registers/keys/", "登记簿服务未运行", "The register service is not running"),
    ("post", "/registers/parcels/pickup", "登记簿服务未运行", "The register service is not running"),
])
def test_a_page_whose_service_is_not_running_says_so(bare, method, path, zh, en):
    c, token = logged_in(bare)
    r = c.get(path) if method == "get" else c.post(path, data={"csrf_token": token})
    assert r.status_code == 503
    page = r.get_data(as_text=True)
    assert zh in page and en in page
    assert r.headers["Retry-After"] == "30"


def test_the_residents_phone_page_says_so_too_without_a_login(bare):
    r = bare.test_client().get("/q/some-ticket")
    assert r.status_code == 503
    assert "排队叫号服务未运行" in r.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/", "/printers", "/alarms/", "/aed/", "/payments/", "/environment/", "/metrics"])
def test_a_page_that_can_do_without_its_service_still_answers(bare, path):
    c, _ = logged_in(bare)
    assert c.get(path).status_code == 200


def test_a_console_without_the_agent_has_no_service(bare):
    assert bare.extensions["edge"] == EdgeServices()
    assert not OLD_KEYS & set(bare.config)


def test_every_service_has_its_words_for_the_503_page():
    assert set(WHAT) == set(NAMES) == {f.name for f in fields(EdgeServices)}


def test_services_live_in_extensions_and_config_holds_no_live_service(tmp_path):
    config = edge_config(tmp_path)
    edge_agent.create_app(config)  # applies the migrations Alarms needs to edge.db
    alarms = Alarms(config.data_dir / "edge.db", bus=None, node="edge")
    try:
        services = EdgeServices(alarms=alarms, metrics=EdgeMetrics(alarms=alarms))
        app = edge_agent.create_app(config, services=services)
        assert app.extensions["edge"] is services
        assert not OLD_KEYS & set(app.config)
        live = {id(getattr(services, name)) for name in NAMES if getattr(services, name) is not None}
        assert not [key for key, value in app.config.items() if id(value) in live]
        c, token = logged_in(app)
        assert c.get("/alarms/").status_code == 200  # the alarm service is running: no 503
        assert c.post("/alarms/none/ack", data={"csrf_token": token}).status_code == 302
    finally:
        alarms.close()


def test_the_not_running_page_reads_plainly_in_chromium(bare, browser):
    """The page a resident's phone or a member of staff sees when a service is down: looked
    at in Chromium at a phone's width (screenshot in var/screenshots/console/)."""
    from pathlib import Path

    from .minihall import Served

    shots = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "console"
    shots.mkdir(parents=True, exist_ok=True)
    served = Served(bare)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        response = page.goto(served.url + "q/some-ticket")
        assert response.status == 503
        text = page.inner_text("main")
        assert "排队叫号服务未运行" in text and "The queue service is not running" in text
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing runs off the screen
        page.screenshot(path=shots / "service-not-running.png", full_page=True)
    finally:
        page.close()
        served.stop()
