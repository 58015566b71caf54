"""Reading a running edge agent's database from a test, the way the staff console does:
with a connection of the test's own, opened and closed for each look (never a
component's connection, which belongs to the component's threads)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def rows(agent: Any, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
    """The rows ``sql`` selects from the agent's ``edge.db``, as dicts."""
    return rows_in(agent.db_path, sql, params)


def rows_in(path: Path, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
    """The rows ``sql`` selects from the SQLite file at ``path`` (read only), as dicts."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def count(agent: Any, table: str, where: str = "1", params: tuple | list = ()) -> int:
    """How many rows of ``table`` match ``where``."""
    return rows(agent, f"SELECT count(*) AS n FROM {table} WHERE {where}", params)[0]["n"]
