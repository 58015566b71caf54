"""Pinyin candidates for the kiosk's on-screen keyboard: the words residents type come
first, what a candidate consumes is right, and bad input is refused."""

from __future__ import annotations

import pytest

from kiosk.ime import PinyinIME


@pytest.fixture(scope="module")
def ime():
    return PinyinIME()


@pytest.mark.parametrize("letters, first", [
    ("loushui", "漏水"),   # a domain word before the more frequent 漏税
    ("wuye", "物业"),
    ("dianti", "电梯"),
    ("tingche", "停车"),
    ("zaoyin", "噪音"),
    ("xiexie", "谢谢"),
    ("shi", "是"),         # the most frequent character of its syllable
])
def test_the_word_a_resident_means_comes_first(ime, letters, first):
    assert ime.candidates(letters)[0].text == first


def test_a_candidate_consumes_the_letters_it_stands_for(ime):
    found = {c.text: c.take for c in ime.candidates("tingchexx")}
    assert found["停车"] == len("tingche")   # the rest stays typed
    assert found["停"] == len("ting")
    assert {c.text: c.take for c in ime.candidates("dianti")}["电梯"] == 6


def test_only_common_simplified_characters_are_offered(ime):
    texts = [c.text for c in ime.candidates("lou", limit=30)]
    assert "楼" in texts and "婁" not in texts  # traditional form left out


def test_the_endpoint_answers_and_refuses_bad_letters(tmp_path):
    import kiosk
    from hall_common.config import KioskConfig

    (tmp_path / "pw").write_text("x")
    app = kiosk.create_app(KioskConfig(hall_id="h1", hall_name="测试大厅", node_id="kiosk-01", data_dir=tmp_path,
                                       broker={"password_file": tmp_path / "pw"}, http={"port": 1},
                                       settings={"info": {"service_phone": "028-1000", "complaint_phone": "028-2000"}}))
    c = app.test_client()
    r = c.get("/ime?q=dianti")
    assert r.status_code == 200 and r.json["candidates"][0] == {"text": "电梯", "take": 6}
    for bad in ("", "dian ti", "电梯", "x" * 31, "<script>"):
        assert c.get("/ime", query_string={"q": bad}).status_code == 400
