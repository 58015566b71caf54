"""The centre's audit log: who changed what, when, and in which hall.

Every change made in the admin console (a configuration, an announcement, a disclosure, a
user) is one line. ``hall_id`` says which hall a line is about, so a hall manager reads the
lines of their own halls only (:mod:`.access`); company-wide lines (users, the
configuration library) have none and are read by those who see every hall, and by
managers where the page says so (a configuration version is everybody's to publish).
"""

from __future__ import annotations

import json
import time
from typing import Any

from central_sync.store import Store

from . import access


def write(store: Store, who: str, action: str, detail: dict[str, Any], *, hall: str | None = None,
          ts: float | None = None) -> None:
    """One line; ``hall`` None for a company-wide change, ``*`` for one made for every hall."""
    store.execute("INSERT INTO audit_log (ts, username, action, detail, hall_id) VALUES (?, ?, ?, ?, ?)",
                  (time.time() if ts is None else ts, who, action, json.dumps(detail, ensure_ascii=False, sort_keys=True),
                   hall))


def recent(store: Store, *, limit: int = 20, company_prefix: str | None = None,
           actions: str | None = None) -> list[dict[str, Any]]:
    """The newest lines the logged-in user may read: every line for those who see every
    hall; for a hall manager, their halls' lines, lines for every hall (``*``), and the
    company-wide lines whose action starts with ``company_prefix``. ``actions``: only lines
    whose action starts with it."""
    where, args = access.hall_clause("hall_id")
    if not access.sees_every_hall():
        extra = "hall_id = '*'"
        if company_prefix:
            extra += " OR (hall_id IS NULL AND action LIKE ?)"
            args = [*args, f"{company_prefix}%"]
        where = f"({where} OR {extra})"
    if actions:
        where += " AND action LIKE ?"
        args = [*args, f"{actions}%"]
    return store.query(f"SELECT ts, username, action, detail, hall_id FROM audit_log WHERE {where} "
                       f"ORDER BY id DESC LIMIT {int(limit)}", args)
