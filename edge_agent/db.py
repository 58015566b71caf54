"""The edge agent's own SQLite database (``edge.db``): its schema as registered migrations."""

from __future__ import annotations

import sqlite_utils

from central_sync.client import add_outbox_tables
from hall_common.auth import add_user_table
from hall_common.storage import Migrations

migrations = Migrations("edge_agent")
add_user_table(migrations)


@migrations()
def create_nodes(db: sqlite_utils.Database) -> None:
    db["nodes"].create(
        {
            "node": str,
            "kind": str,
            "state": str,
            "session": int,
            "sw": str,
            "config_version": int,
            "first_seen": float,
            "last_seen": float,
            "state_changed_at": float,
        },
        pk="node",
        not_null={"state", "session"},
    )


@migrations()
def create_help_requests(db: sqlite_utils.Database) -> None:
    db["help_requests"].create(
        {"id": str, "node": str, "ts": float, "handled_at": float, "handled_by": str}, pk="id", not_null={"node", "ts"}
    )


add_outbox_tables(migrations)


@migrations()
def create_desired_configs(db: sqlite_utils.Database) -> None:
    db["desired_configs"].create({"node": str, "version": int, "doc": str, "received_at": float}, pk="node")


@migrations()
def create_content(db: sqlite_utils.Database) -> None:
    db["content"].create({"kind": str, "key": str, "seq": int, "body": str}, pk=("kind", "key"))
