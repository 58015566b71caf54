"""The central server's database schema as registered migrations."""

from __future__ import annotations

import sqlite_utils

from hall_common.auth import add_user_table
from hall_common.storage import Migrations

migrations = Migrations("central")
add_user_table(migrations)


@migrations()
def create_halls(db: sqlite_utils.Database) -> None:
    db["halls"].create({"hall_id": str, "name": str, "registered_at": float, "last_sync": float}, pk="hall_id")
