"""Bad input on the kiosk's own form: a clear message in the resident's language, what they
typed kept for correction, nothing looked up."""

from __future__ import annotations

import re

import kiosk
from hall_common.config import KioskConfig

from .minihall import SETTINGS


def app(tmp_path):
    (tmp_path / "pw").write_text("x")
    cfg = KioskConfig(hall_id="h1", hall_name="测试大厅", node_id="kiosk-01", data_dir=tmp_path / "k",
                      broker={"password_file": tmp_path / "pw"}, http={"port": 1}, settings=SETTINGS)
    return kiosk.create_app(cfg)


def post_track(client, number: str, last4: str):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/track").get_data(as_text=True)).group(1)
    return client.post("/track", data={"number": number, "last4": last4, "csrf_token": token})


def test_bad_tracking_number_and_digits_are_named_in_chinese(tmp_path):
    c = app(tmp_path).test_client()
    r = post_track(c, "12ab", "99")
    assert r.status_code == 303 and r.headers["Location"].endswith("/track")
    page = c.get("/track").get_data(as_text=True)
    assert "请输入受理回执上的 13 位受理编号。" in page
    assert "请输入您登记手机号的后 4 位。" in page
    assert 'value="12ab"' in page  # kept for correction
    with c.session_transaction() as session:
        assert "track_result" not in session  # nothing was looked up


def test_the_same_errors_in_english(tmp_path):
    c = app(tmp_path).test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/").get_data(as_text=True)).group(1)
    c.post("/lang/en", data={"csrf_token": token, "next": "/track"})
    post_track(c, "", "12345")
    page = c.get("/track").get_data(as_text=True)
    assert "Enter the tracking number: 13 digits" in page and "Enter the last 4 digits" in page


def test_a_valid_form_without_the_hall_system_says_ask_at_the_front_desk(tmp_path):
    c = app(tmp_path).test_client()
    post_track(c, "101 261124 042 9", "5678")  # as printed, in groups
    assert "现在无法查询，请到服务台咨询" in c.get("/track/result").get_data(as_text=True)
