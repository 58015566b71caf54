"""A disclosure as the centre publishes it: the checks on an admin's input, and the row it
becomes in the ``content`` log (kind ``disclosure``, key = the item's id). The body the
halls pull::

    {"category": "fees", "title": "...", "effective_date": "2026-01-01", "version": 3,
     "body": "...", "table": [["项目", "标准"], ...], "images": [{"sha256", "mime", "width",
     "height", "data" (base64)}]}

Each publish of the same item is a new row with the next version; a withdrawal is a row
with ``deleted``. Halls keep the newest row of each key. Used by the admin form and by
``hall up``'s demo items, so both are checked the same way.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import date
from typing import Any

from central_sync.store import Store
from hall_common.disclosure_categories import BY_ID
from hall_common.errors import HallError

MAX_TITLE = 60
MAX_BODY = 4000
MAX_ROWS = 60
MAX_CELLS = 8
MAX_CELL = 60
MAX_IMAGES = 12
ITEM_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class DisclosureInvalid(HallError, ValueError):
    """What is wrong with a disclosure, as bilingual sentences for the admin."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_table(text: str) -> list[list[str]]:
    """Lines of cells separated by tabs (pasted from a spreadsheet) or ``|``; blank lines
    are skipped. Raises DisclosureInvalid naming the bad line."""
    rows: list[list[str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        sep = "\t" if "\t" in line else "|"
        cells = [c.strip() for c in line.strip().strip("|").split(sep)] if sep == "|" else [c.strip() for c in line.split("\t")]
        if len(cells) < 2:
            raise DisclosureInvalid([f"表格第 {n} 行只有一格，请用 Tab 或 | 分隔 · Table line {n} has one cell: separate cells with a tab or |"])
        if len(cells) > MAX_CELLS or any(len(c) > MAX_CELL for c in cells):
            raise DisclosureInvalid([f"表格第 {n} 行最多 {MAX_CELLS} 格、每格 {MAX_CELL} 字 · Table line {n}: at most {MAX_CELLS} cells of {MAX_CELL} characters"])
        rows.append(cells)
    if len(rows) > MAX_ROWS:
        raise DisclosureInvalid([f"表格最多 {MAX_ROWS} 行 · A table has at most {MAX_ROWS} lines"])
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise DisclosureInvalid(["表格每行的格数要一样 · Every table line needs the same number of cells"])
    return rows


def check(form: dict[str, str]) -> dict[str, Any]:
    """The body of a disclosure from the form's fields (category, title, effective_date,
    body, table), without version and images; DisclosureInvalid lists every problem."""
    problems: list[str] = []
    category = form.get("category", "").strip()
    title = form.get("title", "").strip()
    when = form.get("effective_date", "").strip()
    text = form.get("body", "").replace("\r\n", "\n").strip()
    if category not in BY_ID:
        problems.append("请选择公示类别 · Choose a category")
    if not title:
        problems.append("请填写标题 · Enter a title")
    elif len(title) > MAX_TITLE:
        problems.append(f"标题最多 {MAX_TITLE} 字 · A title has at most {MAX_TITLE} characters")
    try:
        date.fromisoformat(when)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", when):
            raise ValueError(when)
    except ValueError:
        problems.append("请填写生效日期，如 2026-01-01 · Enter the effective date as YYYY-MM-DD")
    if len(text) > MAX_BODY:
        problems.append(f"正文最多 {MAX_BODY} 字 · The text has at most {MAX_BODY} characters")
    table: list[list[str]] = []
    try:
        table = parse_table(form.get("table", ""))
    except DisclosureInvalid as exc:
        problems.extend(exc.problems)
    if not text and not table:
        problems.append("请填写正文或表格 · Enter a text or a table")
    if problems:
        raise DisclosureInvalid(problems)
    return {"category": category, "title": title, "effective_date": when, "body": text, "table": table}


def current(store: Store, item_id: str) -> dict[str, Any] | None:
    """The newest row of an item (withdrawn or not), with its body decoded."""
    rows = store.query("SELECT seq, hall_id, body, deleted FROM content WHERE kind = 'disclosure' AND key = ? "
                       "ORDER BY seq DESC LIMIT 1", (item_id,))
    if not rows:
        return None
    row = rows[0]
    row["body"] = row["body"] if isinstance(row["body"], dict) else json.loads(row["body"])
    return row


def publish(store: Store, body: dict[str, Any], *, hall: str, user: str, item_id: str | None = None,
            images: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Add a version of an item (a new one when ``item_id`` is None) and return its body.
    ``images`` None keeps the previous version's pictures; a list replaces them. The caller
    holds the transaction (and writes the audit line in it)."""
    item_id = item_id or uuid.uuid4().hex[:12]
    if not ITEM_ID.match(item_id):
        raise DisclosureInvalid(["编号无效 · Bad item id"])
    store.lock(f"disclosure:{item_id}")  # the version number is decided from the rows before
    before = current(store, item_id)
    version = int(store.scalar("SELECT count(*) FROM content WHERE kind = 'disclosure' AND key = ? AND deleted = ?",
                               (item_id, False)) or 0) + 1
    kept = (before or {}).get("body", {}).get("images", []) if images is None else images
    if len(kept) > MAX_IMAGES:
        raise DisclosureInvalid([f"图片最多 {MAX_IMAGES} 张（PDF 每页一张）· At most {MAX_IMAGES} pictures (a PDF counts each page)"])
    doc = {**body, "id": item_id, "version": version, "images": kept}
    if before is not None and not before["deleted"] and before["hall_id"] != hall:
        withdraw(store, item_id, user=user)  # the halls of the old scope drop it first
    store.execute("INSERT INTO content (hall_id, kind, key, body, deleted, published_by, published_at) "
                  "VALUES (?, 'disclosure', ?, ?, ?, ?, ?)",
                  (hall, item_id, json.dumps(doc, ensure_ascii=False), False, user, time.time()))
    return doc


def withdraw(store: Store, item_id: str, *, user: str) -> bool:
    """Take an item down at every hall that has it (False if it is not published). The
    caller holds the transaction."""
    store.lock(f"disclosure:{item_id}")
    before = current(store, item_id)
    if before is None or before["deleted"]:
        return False
    store.execute("INSERT INTO content (hall_id, kind, key, body, deleted, published_by, published_at) "
                  "VALUES (?, 'disclosure', ?, ?, ?, ?, ?)",
                  (before["hall_id"], item_id, json.dumps({"id": item_id}), True, user, time.time()))
    return True


def listing(store: Store) -> list[dict[str, Any]]:
    """Every item's newest row (published or withdrawn), newest first, without pictures' data."""
    rows = store.query("SELECT c.seq, c.hall_id, c.key, c.body, c.deleted, c.published_by, c.published_at FROM content c "
                       "WHERE c.kind = 'disclosure' AND c.seq = (SELECT max(seq) FROM content d "
                       "WHERE d.kind = 'disclosure' AND d.key = c.key) ORDER BY c.seq DESC")
    for r in rows:
        body = r["body"] if isinstance(r["body"], dict) else json.loads(r["body"])
        body["images"] = len(body.get("images", []))
        r["body"] = body
    return rows
