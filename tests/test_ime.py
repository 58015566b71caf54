"""Pinyin candidates for the kiosk's on-screen keyboard: the words residents type come
first, what a candidate consumes is right, and bad input is refused. The index is a file
built at set-up: the file answers as the index in memory does, a kiosk without it refuses
to start and says how to build it, and a running kiosk imports neither jieba nor pypinyin."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.ime import FORMAT, ImeIndexMissing, IndexFile, PinyinIME
from kiosk.ime_build import MemoryWords, built_from, ensure, fingerprint, write

ROOT = Path(__file__).resolve().parent.parent


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


# A small index by hand: keys that are prefixes of others, a key with an upper-case letter
# (jieba has words like "B超"), syllables with and without single characters.
SMALL = {
    "lou": ["楼", "漏", "搂", "楼上"], "louti": ["楼梯"], "loutai": ["楼台"], "loushui": ["漏水", "漏税"],
    "loudao": ["楼道"], "louB": ["楼B"], "ting": ["停", "听", "挺"], "tingche": ["停车", "听车"],
    "tingchewei": ["停车位"], "che": ["车", "彻"], "chewei": ["车位"], "a": ["啊"], "ab": ["阿比"],
    "zhang": ["张", "长"], "zhangsan": ["张三"], "zhan": ["站", "展"], "zh": ["zh词"],
}


def test_the_file_answers_as_the_index_in_memory(tmp_path):
    write(SMALL, tmp_path / "small.sqlite")
    memory, disk = PinyinIME(words=MemoryWords(SMALL)), PinyinIME(tmp_path / "small.sqlite")
    typed = {k[:n] + tail for k in SMALL for n in range(1, len(k) + 1) for tail in ("", "x", "a", "zh")}
    for letters in sorted(typed | {"q", "louz", "tingchexx", "loub"}):
        for limit in (1, 4, 12):
            assert disk.candidates(letters, limit) == memory.candidates(letters, limit), (letters, limit)
    assert [c.text for c in disk.candidates("lou")] == ["楼", "漏", "搂", "楼上", "楼B", "楼道", "漏水", "楼台",
                                                          "楼梯"]


def test_a_missing_or_foreign_index_says_how_to_build_it(tmp_path):
    with pytest.raises(ImeIndexMissing, match="missing: build it with scripts/setup"):
        PinyinIME(tmp_path / "none.sqlite").candidates("lou")
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ImeIndexMissing, match="cannot be read.*rebuild it with scripts/setup"):
        IndexFile(tmp_path / "junk.sqlite")
    old = tmp_path / "old.sqlite"
    sqlite3.connect(old).execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(ImeIndexMissing, match=f"layout 99, not {FORMAT}: rebuild"):
        IndexFile(old)
    assert built_from(tmp_path / "junk.sqlite") is None and built_from(old) is None


def test_set_up_builds_only_what_is_stale(tmp_path):
    path = tmp_path / "ime.sqlite"
    write(SMALL, path, fingerprint())
    assert built_from(path) == fingerprint()
    assert ensure(path) is False  # current: left alone
    assert [c.text for c in PinyinIME(path).candidates("zhangsan")][:1] == ["张三"]
    write(SMALL, path, "built from something else")
    assert built_from(path) != fingerprint()  # what ensure() rebuilds
    assert fingerprint(("物业",)) != fingerprint()  # other domain words: another fingerprint


def test_set_up_command_builds_the_index(tmp_path):
    path = tmp_path / "kiosk" / "ime.sqlite"
    run = [sys.executable, "-m", "kiosk.ime_build", "--path", str(path)]
    first = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0 and "built" in first.stderr, first.stderr
    assert built_from(path) == fingerprint()
    assert [c.text for c in PinyinIME(path).candidates("loushui")][:2] == ["漏水", "漏税"]
    again = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stderr == ""  # current: nothing to do
    assert sorted(p.name for p in path.parent.iterdir()) == [".ime.sqlite.lock", "ime.sqlite"]  # no temporary left


def test_the_kiosk_refuses_to_start_without_its_index(tmp_path):
    (tmp_path / "secret").write_text("x")
    (tmp_path / "kiosk.toml").write_text(
        'hall_id = "h1"\nhall_name = "测试大厅"\nnode_id = "kiosk-01"\ndata_dir = "data"\nime_index = "no/ime.sqlite"\n'
        '[broker]\nport = 1\npassword_file = "secret"\n[http]\nport = 1\n'
        '[settings.info]\nservice_phone = "028-1"\ncomplaint_phone = "028-2"\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "kiosk", "--config", str(tmp_path / "kiosk.toml")], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"kiosk: the pinyin keyboard's index {tmp_path / 'no' / 'ime.sqlite'} is missing: "
                                     "build it with scripts/setup (or: .venv/bin/python -m kiosk.ime_build)")


def test_a_kiosk_typing_pinyin_imports_neither_jieba_nor_pypinyin(tmp_path):
    code = f"""
import sys, pathlib
import kiosk
from hall_common.config import KioskConfig
d = pathlib.Path({str(tmp_path)!r}); (d / "pw").write_text("x")
app = kiosk.create_app(KioskConfig(hall_id="h1", hall_name="t", node_id="kiosk-01", data_dir=d,
                       broker={{"password_file": d / "pw"}}, http={{"port": 1}},
                       settings={{"info": {{"service_phone": "028-1000", "complaint_phone": "028-2000"}}}}))
assert app.test_client().get("/ime?q=wuye").json["candidates"][0]["text"] == "物业"
print(sorted(m for m in sys.modules if m == "kiosk.ime_build" or m.split(".")[0] in ("jieba", "pypinyin")))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
