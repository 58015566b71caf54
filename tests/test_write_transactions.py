"""One way to write a transaction in the product: ``hall_common.storage.immediate`` at the
hall, ``Store.transaction`` at the centre. Both begin with ``BEGIN IMMEDIATE`` on SQLite.

sqlite-utils' ``atomic()`` and a sqlite3 connection's ``with conn:`` begin a deferred
transaction instead. Say it reads and then writes (sqlite-utils' ``insert`` reads the
table's layout first), and another connection wrote in between. Then the write fails at
once with "database is locked" instead of waiting ``busy_timeout`` for its turn. A burst of
"call staff" requests lost two in twenty that way (issue 22).

Like ``test_imports.py``, this reads every module of the product's packages with
:mod:`ast`. It fails naming each ``.atomic()`` call, each ``with <...>.conn:`` block
(sqlite-utils' connection), and each ``BEGIN`` or ``COMMIT`` written by hand outside the two
modules that define the transactions.
"""

from __future__ import annotations

import ast
import re

from .test_imports import ROOT, project_modules

OWNERS = {"hall_common.storage", "central_sync.store"}
"""The modules that begin and commit transactions; everybody else uses theirs."""
BY_HAND = re.compile(r"\s*(BEGIN|COMMIT)\b")


def offences(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every way of writing a transaction that is not the project's."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "atomic":
            found.append((node.lineno, "atomic() begins a deferred transaction"))
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                expr = item.context_expr
                if isinstance(expr, ast.Attribute) and expr.attr == "conn":  # sqlite-utils' db.conn
                    found.append((node.lineno, "with db.conn: begins a deferred transaction"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and BY_HAND.match(node.value):
            found.append((node.lineno, f"{node.value.split()[0]} written by hand"))
    return sorted(found)


def test_the_check_finds_each_other_way():
    sample = ast.parse(
        "with db.atomic():\n    pass\n"
        "with self._lock, self.db.conn:\n    pass\n"
        "db.execute('BEGIN')\n"
        "db.conn.execute('COMMIT')\n"
        "with immediate(db), socket() as conn, conn:\n    db.execute('SAVEPOINT x')\n"
    )
    assert [line for line, _ in offences(sample)] == [1, 3, 5, 6]


def test_every_write_transaction_in_the_product_takes_the_write_lock_first():
    found = []
    for name, module in project_modules().items():
        if name in OWNERS:
            continue
        tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
        found += [f"{module.path.relative_to(ROOT)}:{line}: {what}" for line, what in offences(tree)]
    assert not found, ("write with hall_common.storage.immediate(db) (or Store.transaction at the centre):\n"
                       + "\n".join(found))
