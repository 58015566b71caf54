"""The centre's console accounts: add one, change its role and halls, disable it.

The users page (:mod:`.users`) and ``hall centre-user`` (hall_cli/centre_users.py, for the
first admin of a fresh centre) both come here, so an account is checked the same way
whoever makes it. Passwords are argon2id hashes (:func:`hall_common.auth.set_password`).
A change of role or a disabled account ends that user's open sessions at once (the role is
kept in the session); a change of halls takes effect on the user's next page, since the
halls are read on every request (:func:`.access.halls`). Every change is an audit line.
"""

from __future__ import annotations

import re
import time
from typing import Any

from central_sync.store import Store
from hall_common.auth import set_password
from hall_common.errors import HallError

from . import audit
from .access import CENTRE_ROLES
from .db import StoreSessions, StoreUsers

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,39}")
ROLE_NAMES = {"admin": "公司管理员 · Company admin", "manager": "服务中心经理 · Hall manager",
              "auditor": "审计（只读）· Auditor (read only)"}


class AccountInvalid(HallError, ValueError):
    """What is wrong with an account change, each problem in Chinese and English."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_halls(text: str) -> list[str]:
    """Hall ids from a form or the command line: separated by commas, spaces or new lines."""
    return sorted({h for h in re.split(r"[\s,，、]+", text or "") if h})


def listing(store: Store) -> list[dict[str, Any]]:
    """Every account at the centre, with a manager's halls, by name."""
    users = store.query("SELECT username, role, created_at, disabled_at FROM users ORDER BY username")
    halls: dict[str, list[str]] = {}
    for r in store.query("SELECT username, hall_id FROM user_halls ORDER BY hall_id"):
        halls.setdefault(r["username"], []).append(r["hall_id"])
    for u in users:
        u["halls"] = halls.get(u["username"], [])
    return users


def find(store: Store, username: str) -> dict[str, Any] | None:
    rows = store.query("SELECT username, role, disabled_at FROM users WHERE username = ?", (username,))
    return rows[0] if rows else None


def _check(store: Store, role: str, halls: list[str]) -> list[str]:
    problems = []
    if role not in CENTRE_ROLES:
        problems.append("请选择角色：公司管理员、服务中心经理或审计 · Choose a role: admin, manager or auditor")
    if role == "manager" and not halls:
        problems.append("服务中心经理至少要有一个服务中心 · A hall manager needs at least one hall")
    if role in ("admin", "auditor") and halls:
        problems.append("只有服务中心经理按服务中心授权，管理员和审计可见全部 · Only a hall manager is given halls: "
                        "admins and auditors see every hall")
    known = {r["hall_id"] for r in store.query("SELECT hall_id FROM halls")}
    unknown = [h for h in halls if h not in known]
    if unknown:
        problems.append(f"没有这些服务中心 · No such hall: {', '.join(unknown)}")
    return problems


def _active_admins(store: Store, other_than: str) -> int:
    return int(store.scalar("SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND username <> ?",
                            (other_than,)) or 0)


def _set_halls(store: Store, username: str, halls: list[str]) -> None:
    store.execute("DELETE FROM user_halls WHERE username = ?", (username,))
    store.executemany("INSERT INTO user_halls (username, hall_id) VALUES (?, ?)", [(username, h) for h in halls])


def add(store: Store, username: str, password: str, role: str, halls: list[str], *, by: str) -> None:
    """A new account; :class:`AccountInvalid` (nothing written) if anything is wrong."""
    problems = []
    if not USERNAME.fullmatch(username):
        problems.append("用户名为 1 到 40 个字母、数字或 _ . @ -，以字母或数字开头 · A user name is 1 to 40 letters, digits "
                        "or _ . @ -, starting with a letter or digit")
    elif find(store, username) is not None:
        problems.append(f"用户 {username} 已存在 · User {username} exists already")
    if len(password) < 8:
        problems.append("密码至少 8 个字符 · A password needs at least 8 characters")
    problems += _check(store, role, halls)
    if problems:
        raise AccountInvalid(problems)
    with store.transaction():
        set_password(StoreUsers(store), username, password, role)
        _set_halls(store, username, halls)
        audit.write(store, by, "user.add", {"user": username, "role": role, "halls": halls})


def change(store: Store, username: str, role: str, halls: list[str], *, by: str) -> None:
    """A new role and halls for an account. Nobody changes their own role, and the last
    admin stays one, so the company is never left without an administrator."""
    row = find(store, username)
    if row is None:
        raise AccountInvalid([f"没有用户 {username} · No user {username}"])
    problems = _check(store, role, halls)
    if role != row["role"] and username == by:
        problems.append("不能更改自己的角色 · You cannot change your own role")
    elif row["role"] == "admin" and role != "admin" and not _active_admins(store, username):
        problems.append("这是最后一位管理员 · This is the last admin")
    if problems:
        raise AccountInvalid(problems)
    with store.transaction():
        store.execute("UPDATE users SET role = ? WHERE username = ?", (role, username))
        _set_halls(store, username, halls)
        if role != row["role"]:
            StoreSessions(store).remove_user(username)  # the old role is in their sessions
        audit.write(store, by, "user.change", {"user": username, "role": role, "was": row["role"], "halls": halls})


def set_disabled(store: Store, username: str, disabled: bool, *, by: str) -> None:
    """Disable an account (its sessions end, its password opens nothing; who it was stays in
    the audit log) or enable it again."""
    row = find(store, username)
    if row is None:
        raise AccountInvalid([f"没有用户 {username} · No user {username}"])
    if disabled and username == by:
        raise AccountInvalid(["不能停用自己的账号 · You cannot disable your own account"])
    if disabled and row["role"] == "admin" and not _active_admins(store, username):
        raise AccountInvalid(["这是最后一位管理员 · This is the last admin"])
    with store.transaction():
        store.execute("UPDATE users SET disabled_at = ? WHERE username = ?", (time.time() if disabled else None, username))
        if disabled:
            StoreSessions(store).remove_user(username)
        audit.write(store, by, "user.disable" if disabled else "user.enable", {"user": username})
