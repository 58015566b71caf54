"""The hall's copy of the public disclosures (信息公示) and the kiosk's questions about them.

The centre publishes each item as ``content`` of kind ``disclosure`` (see
central_sync/server/disclosure_doc.py); :func:`apply` keeps the newest version of each and
drops withdrawn ones, on the sync worker's connection, in the same transaction as the rest
of the page. :class:`DisclosureLibrary` answers the kiosk over the bus:

``disclosures``        ``{}`` → categories with counts; ``{"category": id}`` → also its items
``disclosure``         ``{"id": id}`` → the item with its text, table and picture ids
``disclosure_search``  ``{"q": text}`` → items with a snippet in segments ``[[text, hit], ...]``
``disclosure_image``   ``{"sha256": id}`` → ``{"mime", "data"}`` (base64), for the kiosk to serve

Everything is local, so a hall with the centre down shows and searches all it had.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from central_sync.protocol import ContentItem
from hall_common.bus.methods import DisclosureArgs, DisclosuresArgs, ImageArgs, SearchArgs
from hall_common.disclosure_categories import BY_ID, CATEGORIES
from hall_common.errors import RequestFailed

from .component import Component, route

if TYPE_CHECKING:
    import sqlite_utils

log = logging.getLogger(__name__)

MAX_QUERY = 40
MAX_HITS = 30
SNIPPET = 18
"""Characters of text shown either side of a hit."""
_HIT_OPEN, _HIT_CLOSE = "\x02", "\x03"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def apply(db: sqlite_utils.Database, items: list[ContentItem]) -> int:
    """Keep the disclosures of a pulled page (the caller holds the transaction); returns how
    many changed. Bad bodies are logged and skipped: one broken item does not stop the hall
    taking the rest."""
    changed = 0
    for item in items:
        if item.kind != "disclosure":
            continue
        _drop(db, item.key)
        if not item.deleted:
            try:
                _keep(db, item)
            except (KeyError, TypeError, ValueError) as exc:
                log.error("disclosure %s (seq %s) from the centre skipped: %s", item.key, item.seq, exc)
                continue
        changed += 1
    if changed:
        db.execute("DELETE FROM disclosure_images WHERE sha256 NOT IN "
                   "(SELECT json_extract(j.value, '$.sha256') FROM disclosures, json_each(disclosures.images_json) AS j)")
    return changed


def _drop(db: sqlite_utils.Database, item_id: str) -> None:
    db.execute("DELETE FROM disclosures WHERE id = ?", [item_id])
    db.execute("DELETE FROM disclosures_fts WHERE id = ?", [item_id])


def _keep(db: sqlite_utils.Database, item: ContentItem) -> None:
    b = item.body
    category, title = str(b["category"]), str(b["title"])
    if category not in BY_ID or not title:
        raise ValueError(f"unknown category {category!r} or no title")
    table = [[str(c) for c in row] for row in b.get("table") or []]
    images = []
    for img in b.get("images") or []:
        if not SHA256.match(str(img["sha256"])):
            raise ValueError("bad picture id")
        db.execute("INSERT OR IGNORE INTO disclosure_images (sha256, mime, data) VALUES (?, ?, ?)",
                   [img["sha256"], img.get("mime", "image/jpeg"), base64.b64decode(img["data"])])
        images.append({"sha256": img["sha256"], "width": img.get("width"), "height": img.get("height")})
    body = str(b.get("body") or "")
    db.execute("INSERT INTO disclosures (id, category, title, effective_date, version, body, table_json, images_json, seq) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [item.key, category, title, str(b["effective_date"]), int(b["version"]), body,
                json.dumps(table, ensure_ascii=False), json.dumps(images), item.seq])
    searchable = "\n".join([body, *("  ".join(row) for row in table)])
    db.execute("INSERT INTO disclosures_fts (id, title, body) VALUES (?, ?, ?)", [item.key, title, searchable])


class DisclosureLibrary(Component):
    """Answers the kiosk's disclosure requests from the edge database (its own connection,
    used on the bus worker thread)."""

    name = "disclosures"

    def __init__(self, *, db_path: Path) -> None:
        self.own_connection(db_path)

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.db.query(sql, params))

    @route("disclosures")
    def handle_list(self, requester: str, args: DisclosuresArgs) -> dict[str, Any]:
        counts = {r["category"]: r["n"] for r in self._rows("SELECT category, count(*) AS n FROM disclosures GROUP BY category", [])}
        result: dict[str, Any] = {"categories": [{"id": c.id, "zh": c.zh, "en": c.en, "count": counts.get(c.id, 0)}
                                                 for c in CATEGORIES]}
        category = args.category
        if category is not None:
            if category not in BY_ID:
                raise RequestFailed("not_found", f"no category {category}")
            result["items"] = self._rows("SELECT id, title, effective_date, version FROM disclosures WHERE category = ? "
                                         "ORDER BY effective_date DESC, title", [category])
        return result

    @route("disclosure")
    def handle_item(self, requester: str, args: DisclosureArgs) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM disclosures WHERE id = ?", [args.id])
        if not rows:
            raise RequestFailed("not_found", "no such disclosure")
        r = rows[0]
        return {"id": r["id"], "category": r["category"], "title": r["title"], "effective_date": r["effective_date"],
                "version": r["version"], "body": r["body"], "table": json.loads(r["table_json"]),
                "images": json.loads(r["images_json"])}

    @route("disclosure_search")
    def handle_search(self, requester: str, args: SearchArgs) -> dict[str, Any]:
        """Items whose title or text holds ``q``: the trigram index for three characters or
        more, LIKE below that (a trigram index cannot match one or two characters)."""
        q = " ".join(args.q.split())[:MAX_QUERY]
        if not q:
            return {"q": q, "items": []}
        if len(q) >= 3:
            phrase = '"' + q.replace('"', '""') + '"'
            rows = self._rows(
                "SELECT d.id, d.title, d.category, d.effective_date, d.version, "
                f"snippet(disclosures_fts, 2, '{_HIT_OPEN}', '{_HIT_CLOSE}', '…', 16) AS snip "
                "FROM disclosures_fts f JOIN disclosures d ON d.id = f.id WHERE disclosures_fts MATCH ? "
                f"ORDER BY rank LIMIT {MAX_HITS}", [phrase])
            items = [{**{k: r[k] for k in ("id", "title", "category", "effective_date", "version")},
                      "snippet": _segments(r["snip"]) if _HIT_OPEN in r["snip"] else _around(r["title"], q)} for r in rows]
        else:
            like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = self._rows("SELECT d.id, d.title, d.category, d.effective_date, d.version, f.body AS text "
                              "FROM disclosures d JOIN disclosures_fts f ON f.id = d.id "
                              "WHERE d.title LIKE ? ESCAPE '\\' OR f.body LIKE ? ESCAPE '\\' "
                              f"ORDER BY d.effective_date DESC LIMIT {MAX_HITS}", [like, like])
            items = [{**{k: r[k] for k in ("id", "title", "category", "effective_date", "version")},
                      "snippet": _around(r["text"] if q in r["text"] else r["title"], q)} for r in rows]
        return {"q": q, "items": items}

    @route("disclosure_image")
    def handle_image(self, requester: str, args: ImageArgs) -> dict[str, Any]:
        sha = args.sha256
        rows = self._rows("SELECT mime, data FROM disclosure_images WHERE sha256 = ?", [sha]) if SHA256.match(sha) else []
        if not rows:
            raise RequestFailed("not_found", "no such picture")
        return {"mime": rows[0]["mime"], "data": base64.b64encode(rows[0]["data"]).decode()}


def _segments(snip: str) -> list[list[Any]]:
    """FTS5's snippet with hit markers as ``[[text, is_hit], ...]``: the kiosk escapes each
    part, so nothing from a disclosure's text is ever taken as markup."""
    out: list[list[Any]] = []
    for part in re.split(f"({_HIT_OPEN}.*?{_HIT_CLOSE})", snip.replace("\n", " ")):
        if part.startswith(_HIT_OPEN):
            out.append([part.strip(_HIT_OPEN + _HIT_CLOSE), True])
        elif part:
            out.append([part, False])
    return out


def _around(text: str, q: str) -> list[list[Any]]:
    """A snippet around the first place ``q`` is found in ``text``."""
    text = text.replace("\n", " ")
    at = text.find(q)
    if at < 0:
        return [[text[:2 * SNIPPET], False]]
    start, end = max(0, at - SNIPPET), at + len(q)
    parts = [["…" + text[start:at] if start else text[:at], False], [q, True],
             [text[end:end + SNIPPET] + ("…" if end + SNIPPET < len(text) else ""), False]]
    return [p for p in parts if p[0]]
