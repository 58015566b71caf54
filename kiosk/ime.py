"""Typing Chinese on a touchscreen with no keyboard: pinyin in, candidates out.

The kiosk's on-screen keyboard sends the letters typed so far (``/ime?q=louti``) and shows
the candidates; tapping one puts it in the field and consumes the letters it covers. No
hand-made dictionary: words and their frequencies come from jieba's dictionary, their
pinyin from pypinyin, and words residents of a property hall type often (漏水, 物业, 电梯 …)
are lifted to the top of their pinyin, so 漏水 comes before 漏税 (:mod:`kiosk.ime_build`).

Candidates, best first:

1. words whose whole pinyin is what was typed (a domain word first, then by frequency);
2. words whose pinyin starts with it (the resident is still typing);
3. words for the start of what was typed (``tingchewei``: 停车, consuming ``tingche``);
4. single characters of the first syllable typed, which consume only that syllable.

The index (about 50,000 words) is built once, at set-up (``scripts/setup`` runs
``python -m kiosk.ime_build``), into an SQLite file that the kiosk opens read-only. Building
it in the kiosk cost about 85 MB of resident memory and 2-3 s before the first candidates
(jieba's dictionary and pypinyin's tables); reading it from the file costs the SQLite page
cache and a few queries of a few microseconds each, so neither jieba nor pypinyin is imported
by a running kiosk. A kiosk whose index file is missing refuses to start (:meth:`PinyinIME.open`).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

INDEX_PATH = Path(__file__).with_name("ime_words.sqlite")
"""Where set-up writes the index; ignored by git (it is built, not edited)."""
FORMAT = 1
"""The index file's layout (its ``user_version``); a file of another layout is rebuilt."""
BUILD_COMMAND = "scripts/setup (or: .venv/bin/python -m kiosk.ime_build)"

Length = Literal["one", "many"] | None


class ImeIndexMissing(RuntimeError):
    """The pinyin index file is absent or of another layout: set-up has not built it."""


@dataclass(frozen=True)
class Candidate:
    text: str
    take: int
    """How many of the typed letters this candidate stands for."""


class Words(Protocol):
    """The index the candidates are drawn from: words by their pinyin (letters only, no tones
    or spaces), best first. The kiosk reads :class:`IndexFile`; the set-up build holds the
    same index in memory (:class:`kiosk.ime_build.MemoryWords`)."""

    def words(self, key: str, length: Length, limit: int) -> list[str]:
        """The first ``limit`` words whose pinyin is ``key``: of one character, of more, or all."""

    def heads(self, prefix: str, limit: int) -> list[str]:
        """The best word of each of the first ``limit`` pinyins (in letter order) that start with
        ``prefix`` and are longer than it."""

    def syllable(self, letters: str) -> str | None:
        """The longest start of ``letters`` (up to 6 letters) that is a single character's pinyin."""


class PinyinIME:
    """Candidates for the letters typed so far, from the index at ``path`` (set-up's file) or
    from ``words`` (an index already at hand)."""

    def __init__(self, path: Path = INDEX_PATH, *, words: Words | None = None) -> None:
        self._path = path
        self._words = words
        self._lock = threading.Lock()

    def open(self) -> Words:
        """The index, opened on first use; :class:`ImeIndexMissing` names the command that builds it.
        The kiosk calls it at start, so a missing index stops the kiosk there, not at a resident's
        first letter."""
        with self._lock:
            if self._words is None:
                self._words = IndexFile(self._path)
            return self._words

    def candidates(self, letters: str, limit: int = 12) -> list[Candidate]:
        letters = letters.lower()
        if not letters.isascii() or not letters.isalpha():
            raise ValueError("letters: a to z only")
        index = self.open()
        out: list[Candidate] = []
        seen: set[str] = set()

        def add(text: str, take: int) -> None:
            if text not in seen and len(out) < limit:
                seen.add(text)
                out.append(Candidate(text, take))

        for word in index.words(letters, None, limit):
            add(word, len(letters))
        for word in index.heads(letters, max(0, limit // 2)):
            add(word, len(letters))
        for n in range(len(letters) - 1, 1, -1):  # a word for the start of what was typed
            if len(out) >= limit:
                break
            for word in index.words(letters[:n], "many", limit):
                add(word, n)
            if len(out) >= limit // 2:
                break
        first = index.syllable(letters) if len(out) < limit else None
        if first is not None:
            for ch in index.words(first, "one", limit):
                add(ch, len(first))
        return out


_LENGTH_SQL = {None: "", "one": " AND length(word) = 1", "many": " AND length(word) > 1"}


class IndexFile:
    """The index in set-up's SQLite file, opened read-only and immutable (no locks, no journal).

    One connection serves every request thread, one query at a time: a lookup takes a few
    queries of microseconds each, and one connection keeps one page cache (at most
    ``cache_kib``) instead of one per thread.
    """

    def __init__(self, path: Path, *, cache_kib: int = 1024) -> None:
        if not path.is_file():
            raise ImeIndexMissing(f"the pinyin keyboard's index {path} is missing: build it with {BUILD_COMMAND}")
        self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                                   check_same_thread=False)
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:  # not SQLite at all: a copy cut short, another file
            self._db.close()
            raise ImeIndexMissing(f"the pinyin keyboard's index {path} cannot be read ({exc}): "
                                  f"rebuild it with {BUILD_COMMAND}") from None
        if version != FORMAT:
            self._db.close()
            raise ImeIndexMissing(f"the pinyin keyboard's index {path} has layout {version}, not {FORMAT}: "
                                  f"rebuild it with {BUILD_COMMAND}")
        self._db.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
        self._lock = threading.Lock()

    def _column(self, sql: str, *args: object) -> list:
        with self._lock:
            return [row[0] for row in self._db.execute(sql, args)]

    def words(self, key: str, length: Length, limit: int) -> list[str]:
        return self._column(f"SELECT word FROM words WHERE key = ?{_LENGTH_SQL[length]} ORDER BY rank LIMIT ?",
                            key, limit)

    def heads(self, prefix: str, limit: int) -> list[str]:
        # "{" follows "z": every key that starts with the prefix sorts below prefix + "{".
        return self._column("SELECT word FROM words WHERE key > ? AND key < ? AND rank = 0 ORDER BY key LIMIT ?",
                            prefix, prefix + "{", limit)

    def syllable(self, letters: str) -> str | None:
        starts = [letters[:n] for n in range(min(6, len(letters)), 0, -1)]
        found = set(self._column(f"SELECT DISTINCT key FROM words WHERE key IN ({','.join('?' * len(starts))})"
                                 " AND length(word) = 1", *starts))
        return next((s for s in starts if s in found), None)

    def close(self) -> None:
        self._db.close()
