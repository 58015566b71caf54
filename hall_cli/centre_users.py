"""``hall centre-user``: the centre's console accounts from the command line.

A fresh centre has nobody to open its users page, so its first admin is made here, on the
centre's machine (it writes to the central database); later accounts are usually made on
the users page. The same rules apply either way (central_sync/server/accounts.py), and
every change is an audit line by ``cli/<login name>``::

    hall centre-user --config central.toml add alice --role admin
    hall centre-user --config central.toml add bob --role manager --halls east-a,east-b
    hall centre-user --config central.toml set-halls bob east-a west-b
    hall centre-user --config central.toml list

The password is asked for twice, or read from ``--password-file`` (its first line).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``centre-user`` and its commands to ``hall``'s parser."""
    cu = sub.add_parser("centre-user", help="add, list and give halls to the centre's console users")
    where = cu.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", type=Path, help="the centre's configuration (central.toml): its database_url")
    where.add_argument("--database-url", help="the central database (sqlite:///... or postgresql://...)")
    verbs = cu.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="add a user")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=("admin", "manager", "auditor"),
                     help="admin: every hall, everything; manager: own halls; auditor: every hall, read only")
    add.add_argument("--halls", default="", help="a manager's halls, ids separated by commas")
    add.add_argument("--password-file", type=Path, help="read the password from this file instead of asking")
    verbs.add_parser("list", help="list the users, their roles and halls")
    sh = verbs.add_parser("set-halls", help="give a hall manager these halls (replacing their halls)")
    sh.add_argument("username")
    sh.add_argument("halls", nargs="+", help="hall ids")
    cu.set_defaults(func=run)


def _password(args: argparse.Namespace) -> str:
    if args.password_file:
        return args.password_file.read_text(encoding="utf-8").splitlines()[0] if args.password_file.stat().st_size else ""
    first = getpass.getpass(f"Password for {args.username}: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    from central_sync.server import accounts
    from central_sync.server.schema import MIGRATIONS
    from central_sync.store import Store, migrate
    from hall_common.config import CentralConfig, load
    from hall_common.errors import ConfigError

    try:
        url = args.database_url or load(CentralConfig, args.config).database_url
        password = _password(args) if args.verb == "add" else ""
    except (ConfigError, OSError, ValueError) as exc:
        print(f"hall centre-user: {exc}", file=sys.stderr)
        return 2
    by = f"cli/{getpass.getuser()}"
    store = Store.connect(url)
    try:
        migrate(store, MIGRATIONS)
        if args.verb == "list":
            for u in accounts.listing(store):
                state = "  (disabled)" if u["disabled_at"] else ""
                print(f"{u['username']:<24} {u['role']:<8} {','.join(u['halls']) or '-'}{state}")
            return 0
        if args.verb == "add":
            accounts.add(store, args.username, password, args.role, accounts.parse_halls(args.halls), by=by)
            print(f"hall centre-user: added {args.username} ({args.role})")
            return 0
        row = accounts.find(store, args.username)
        halls = accounts.parse_halls(" ".join(args.halls))
        accounts.change(store, args.username, row["role"] if row else "", halls, by=by)
        print(f"hall centre-user: {args.username} now has {', '.join(halls)}")
        return 0
    except accounts.AccountInvalid as exc:
        for p in exc.problems:
            print(f"hall centre-user: {p}", file=sys.stderr)
        return 1
    finally:
        store.close()
