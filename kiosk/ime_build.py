"""The pinyin keyboard's index, built at set-up from jieba's dictionary and pypinyin.

``scripts/setup`` runs ``python -m kiosk.ime_build``: it writes :data:`kiosk.ime.INDEX_PATH`
(about 50,000 words of up to four characters, each under its pinyin, best first) when the
file is missing or was built from other inputs (another layout, other domain words, another
jieba or pypinyin), and does nothing otherwise. Only set-up (and the tests, when a checkout
has not run it) imports jieba and pypinyin; a running kiosk reads the file
(:class:`kiosk.ime.IndexFile`). ``--path`` builds elsewhere (a kiosk's ``ime_index``),
``--force`` builds even when the file looks current.

The ranking is the one the kiosk used when it built the index in memory: a domain word
first, then jieba's frequency, ties by the word (descending); single characters only from
GB2312 (the simplified characters of everyday writing). :class:`MemoryWords` holds the same
index in memory: the baseline of ``bench/pinyin.py``.
"""

from __future__ import annotations

import argparse
import bisect
import fcntl
import json
import os
import sqlite3
import sys
from importlib import metadata
from pathlib import Path

from .ime import FORMAT, INDEX_PATH, Length

DOMAIN_WORDS = (
    "物业", "物业费", "漏水", "渗水", "水管", "停水", "停电", "电梯", "楼道", "楼梯", "门禁", "单元门", "路灯",
    "噪音", "装修", "垃圾", "保洁", "卫生", "绿化", "消防", "消防通道", "停车", "车位", "车库", "地下室",
    "保安", "快递", "宠物", "邻居", "楼上", "楼下", "天花板", "墙面", "卫生间", "厨房", "阳台", "窗户",
    "维修", "投诉", "建议", "表扬", "咨询", "报修", "服务态度", "收费", "发票", "燃气", "煤气", "异味",
    "尽快", "处理", "谢谢", "麻烦", "修好", "清理", "检查", "更换", "损坏", "坏了", "堵塞", "下水道", "停车位",
)
"""Words residents of a property hall type often: first among the words of their pinyin."""
MIN_FREQ = 50
MAX_LEN = 4


def _common(ch: str) -> bool:
    """In GB2312: the simplified characters of everyday writing."""
    try:
        ch.encode("gb2312")
        return True
    except UnicodeEncodeError:
        return False


def ranked(extra_words: tuple[str, ...] = DOMAIN_WORDS) -> dict[str, list[str]]:
    """Every pinyin and its words, best first: the index, in memory (1-3 s, about 85 MB)."""
    import jieba
    from pypinyin import lazy_pinyin

    ranked: dict[str, list[tuple[int, str]]] = {}
    boost = {w: 10**9 for w in extra_words}
    path = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
    with open(path, encoding="utf-8") as f:
        words = [(w, int(freq)) for w, freq, _ in (line.split(" ") for line in f)
                 if len(w) <= MAX_LEN and int(freq) >= MIN_FREQ]
    for word, freq in [*words, *((w, 0) for w in extra_words)]:
        if len(word) == 1 and not _common(word):
            continue  # rare and traditional characters only crowd the candidate bar
        key = "".join(lazy_pinyin(word))
        if key.isascii() and key.isalpha():
            ranked.setdefault(key, []).append((boost.get(word, freq), word))
    return {k: list(dict.fromkeys(w for _, w in sorted(v, reverse=True))) for k, v in ranked.items()}


class MemoryWords:
    """The index as a dict and its sorted keys: how the kiosk held it before the file."""

    def __init__(self, index: dict[str, list[str]]) -> None:
        self.index = index
        self._keys = sorted(index)
        self._syllables = frozenset(k for k, v in index.items() if any(len(w) == 1 for w in v))

    def words(self, key: str, length: Length, limit: int) -> list[str]:
        found = self.index.get(key, [])
        if length is not None:
            found = [w for w in found if (len(w) == 1) == (length == "one")]
        return found[:limit]

    def heads(self, prefix: str, limit: int) -> list[str]:
        start = bisect.bisect_right(self._keys, prefix)
        out: list[str] = []
        for key in self._keys[start:start + max(0, limit)]:
            if not key.startswith(prefix):
                break
            out.append(self.index[key][0])
        return out

    def syllable(self, letters: str) -> str | None:
        return next((letters[:n] for n in range(min(6, len(letters)), 0, -1) if letters[:n] in self._syllables), None)


def fingerprint(extra_words: tuple[str, ...] = DOMAIN_WORDS) -> str:
    """What the index is built from; a file built from anything else is rebuilt."""
    versions = {name: _version(name) for name in ("jieba", "pypinyin")}
    return json.dumps({"format": FORMAT, "min_freq": MIN_FREQ, "max_len": MAX_LEN, "domain_words": extra_words,
                       **versions}, ensure_ascii=False, sort_keys=True)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def built_from(path: Path) -> str | None:
    """The fingerprint stored in the index at ``path``; None when it is missing or of another layout."""
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] != FORMAT:
                return None
            row = db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return None  # not an index at all (an interrupted copy, another file): built again
    return row[0] if row else None


def write(index: dict[str, list[str]], path: Path, fingerprint: str = "") -> None:
    """The index written to ``path`` whole or not at all: a new file beside it, renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        db = sqlite3.connect(tmp)
        try:
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("CREATE TABLE words (key TEXT NOT NULL, rank INTEGER NOT NULL, word TEXT NOT NULL,"
                       " PRIMARY KEY (key, rank)) WITHOUT ROWID")
            db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.executemany("INSERT INTO words VALUES (?, ?, ?)",
                           ((key, rank, word) for key in sorted(index) for rank, word in enumerate(index[key])))
            db.executemany("INSERT INTO meta VALUES (?, ?)",
                           [("fingerprint", fingerprint), ("words", str(sum(map(len, index.values()))))])
            db.execute(f"PRAGMA user_version = {FORMAT}")
            db.commit()
            db.execute("VACUUM")
        finally:
            db.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure(path: Path = INDEX_PATH, *, force: bool = False) -> bool:
    """Build the index at ``path`` unless it is current; True when it was built. Several
    processes at once (test workers) build it once: the others wait for the first."""
    want = fingerprint()
    if not force and built_from(path) == want:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and built_from(path) == want:
            return False
        write(ranked(), path, want)
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kiosk.ime_build",
                                     description="Build the pinyin keyboard's index when it is missing or stale.")
    parser.add_argument("--path", type=Path, default=INDEX_PATH, help=f"where to write it (default {INDEX_PATH})")
    parser.add_argument("--force", action="store_true", help="build it even when it is current")
    args = parser.parse_args(argv)
    if ensure(args.path, force=args.force):
        print(f"ime_build: built {args.path} ({args.path.stat().st_size // 1024} KB)", file=sys.stderr)


if __name__ == "__main__":
    main()
