"""Typing Chinese on a touchscreen with no keyboard: pinyin in, candidates out.

The kiosk's on-screen keyboard sends the letters typed so far (``/ime?q=louti``) and shows
the candidates; tapping one puts it in the field and consumes the letters it covers. No
hand-made dictionary: words and their frequencies come from jieba's dictionary, their
pinyin from pypinyin. Words residents of a property hall type often (漏水, 物业, 电梯 …)
are lifted to the top of their pinyin, so 漏水 comes before 漏税.

Candidates, best first:

1. words whose whole pinyin is what was typed (a domain word first, then by frequency);
2. words whose pinyin starts with it (the resident is still typing);
3. words for the start of what was typed (``tingchewei``: 停车, consuming ``tingche``);
4. single characters of the first syllable typed, which consume only that syllable.

The index (about 50,000 words, 1-2 s to build) is made once per process, on first use or
by :meth:`PinyinIME.warm` in a background thread at start.
"""

from __future__ import annotations

import bisect
import os
import threading
from dataclasses import dataclass
from typing import Iterable

DOMAIN_WORDS = (
    "物业", "物业费", "漏水", "渗水", "水管", "停水", "停电", "电梯", "楼道", "楼梯", "门禁", "单元门", "路灯",
    "噪音", "装修", "垃圾", "保洁", "卫生", "绿化", "消防", "消防通道", "停车", "车位", "车库", "地下室",
    "保安", "快递", "宠物", "邻居", "楼上", "楼下", "天花板", "墙面", "卫生间", "厨房", "阳台", "窗户",
    "维修", "投诉", "建议", "表扬", "咨询", "报修", "服务态度", "收费", "发票", "燃气", "煤气", "异味",
    "尽快", "处理", "谢谢", "麻烦", "修好", "清理", "检查", "更换", "损坏", "坏了", "堵塞", "下水道", "停车位",
)
MIN_FREQ = 50
MAX_LEN = 4


def _common(ch: str) -> bool:
    """In GB2312: the simplified characters of everyday writing."""
    try:
        ch.encode("gb2312")
        return True
    except UnicodeEncodeError:
        return False


@dataclass(frozen=True)
class Candidate:
    text: str
    take: int
    """How many of the typed letters this candidate stands for."""


class PinyinIME:
    def __init__(self, extra_words: Iterable[str] = DOMAIN_WORDS) -> None:
        self._extra = tuple(extra_words)
        self._lock = threading.Lock()
        self._index: dict[str, list[str]] | None = None
        self._keys: list[str] = []
        self._syllables: frozenset[str] = frozenset()

    def warm(self) -> threading.Thread:
        t = threading.Thread(target=self._ensure, name="ime-index", daemon=True)
        t.start()
        return t

    def candidates(self, letters: str, limit: int = 12) -> list[Candidate]:
        letters = letters.lower()
        if not letters.isascii() or not letters.isalpha():
            raise ValueError("letters: a to z only")
        index = self._ensure()
        out: list[Candidate] = []
        seen: set[str] = set()

        def add(text: str, take: int) -> None:
            if text not in seen and len(out) < limit:
                seen.add(text)
                out.append(Candidate(text, take))

        for word in index.get(letters, []):
            add(word, len(letters))
        start = bisect.bisect_left(self._keys, letters)
        longer = []
        for key in self._keys[start:start + 400]:
            if not key.startswith(letters):
                break
            if key != letters:
                longer.append(index[key][0])
        for word in longer[: max(0, limit // 2)]:
            add(word, len(letters))
        for n in range(len(letters) - 1, 1, -1):  # a word for the start of what was typed
            for word in index.get(letters[:n], []):
                if len(word) > 1:
                    add(word, n)
            if len(out) >= limit // 2:
                break
        first = next((letters[:n] for n in range(min(6, len(letters)), 0, -1) if letters[:n] in self._syllables), None)
        if first is not None:
            for ch in index.get(first, []):
                if len(ch) == 1:
                    add(ch, len(first))
        return out

    def _ensure(self) -> dict[str, list[str]]:
        with self._lock:
            if self._index is None:
                self._index = self._build()
            return self._index

    def _build(self) -> dict[str, list[str]]:
        import jieba
        from pypinyin import lazy_pinyin

        ranked: dict[str, list[tuple[int, str]]] = {}
        boost = {w: 10**9 for w in self._extra}
        path = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
        with open(path, encoding="utf-8") as f:
            words = [(w, int(freq)) for w, freq, _ in (line.split(" ") for line in f)
                     if len(w) <= MAX_LEN and int(freq) >= MIN_FREQ]
        for word, freq in [*words, *((w, 0) for w in self._extra)]:
            if len(word) == 1 and not _common(word):
                continue  # rare and traditional characters only crowd the candidate bar
            key = "".join(lazy_pinyin(word))
            if key.isascii() and key.isalpha():
                ranked.setdefault(key, []).append((boost.get(word, freq), word))
        index = {k: list(dict.fromkeys(w for _, w in sorted(v, reverse=True))) for k, v in ranked.items()}
        self._keys = sorted(index)
        self._syllables = frozenset(k for k, v in index.items() if any(len(w) == 1 for w in v))
        return index
