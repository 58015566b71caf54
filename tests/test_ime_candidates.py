"""The pinyin keyboard's candidates for 610 fixed inputs stay what residents saw before.

``tests/data/ime_candidates.json`` holds, for each input, the first five candidates (text and
how many letters it takes) that ``GET /ime`` answered when the index was still built from
jieba's dictionary in the kiosk process (commit "Record the pinyin keyboard's candidates").
It was generated once from that implementation and is not regenerated: a change to how
candidates are stored or looked up must give the same answers. The inputs cover every
syllable, letters still being typed, the property hall's words (物业, 缴费, 投诉, 维修, 停车,
电梯, 水费, 电费, 门禁 …), surnames and names, building and room words, sentences typed past a
word, and initials alone (the keyboard does not expand abbreviations: ``wy`` gives nothing).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiosk.ime import PinyinIME

EXPECTED: dict[str, list[list]] = json.loads(
    (Path(__file__).parent / "data" / "ime_candidates.json").read_text(encoding="utf-8"))
TOP = 5


@pytest.fixture(scope="module")
def ime():
    return PinyinIME()


def test_the_list_covers_what_residents_type():
    assert len(EXPECTED) >= 200
    for letters in ("wuye", "jiaofei", "tousu", "weixiu", "tingche", "dianti", "shuifei", "dianfei", "menjin",
                    "zhang", "erhaolou", "wy"):
        assert letters in EXPECTED


def test_the_first_five_candidates_are_unchanged(ime):
    changed = {}
    for letters, expected in EXPECTED.items():
        got = [[c.text, c.take] for c in ime.candidates(letters)[:TOP]]
        if got != expected:
            changed[letters] = {"expected": expected, "got": got}
    assert not changed, f"{len(changed)} inputs changed: " + json.dumps(changed, ensure_ascii=False, indent=1)
