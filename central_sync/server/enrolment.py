"""Enrolment: a Pi joins its hall with a one-time code, and leaves it when retired.

An administrator adds a device (hall, role, name) in the devices page and gets a join code:
random, shown once, kept here as its SHA-256 only, valid 24 h and for one use. On the Pi,
``hall join URL CODE`` sends the code to ``POST /api/v1/enrol`` and gets everything the
Pi's role needs (:class:`central_sync.protocol.Enrolment`): its configuration, a broker
password made for it, the centre's config signing key and, for the edge, its centre token.

The centre keeps no broker password, only its hash in mosquitto's ``$7$`` format: the
hall's *roster*. The hall's edge fetches it (``GET /api/v1/sync/roster``) and writes its
broker's password file from it (``edge_agent/roster.py``), so a retired device's login is
refused by the hall's broker, and its centre token by the centre.

Wrong codes are counted per client address: after :data:`MAX_WRONG` in
:data:`WRONG_WINDOW_S` the address is refused for a while, so the codes cannot be guessed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from typing import Any

from central_sync.protocol import BrokerLogin, Enrolment
from central_sync.signing import public_key_b64, sign
from central_sync.store import Store
from hall_common import passwd
from hall_common.bus import contract
from hall_common.errors import HallError

from . import credentials
from .node_config import build_config
from .refusal import Refused

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""32 letters and digits, none that reads as another (no I, O, 0, 1): 5 bits a character."""
CODE_LENGTH = 12
"""60 bits: with :data:`MAX_WRONG` tries per address, guessing one of a few live codes is hopeless."""
CODE_VALID_S = 24 * 3600
MAX_WRONG = 10
WRONG_WINDOW_S = 15 * 60
ROLES: dict[str, str] = {"edge": "边缘主机 · Edge", "kiosk": "自助机 · Kiosk", "board": "叫号屏 · Board"}


class DeviceError(HallError, ValueError):
    """A device that cannot be added: ``field`` names the form field, the message is bilingual."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def digest(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def normalise(code: str) -> str:
    """The code as stored: upper case, without the spaces and dashes it is shown with."""
    return "".join(c for c in code.upper() if c.isalnum())


def _new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


# -- the console's side ------------------------------------------------------------------------


def check_device(store: Store, hall_id: str, role: str, name: str) -> None:
    """Raise :class:`DeviceError` naming the field that is wrong."""
    if not store.scalar("SELECT count(*) FROM halls WHERE hall_id = ?", (hall_id,)):
        raise DeviceError("hall", "服务中心不存在 · Hall: no such hall")
    if role not in ROLES:
        raise DeviceError("role", "类型应为边缘主机、自助机或叫号屏 · Role: choose edge, kiosk or board")
    if not contract.valid_id(name):
        raise DeviceError("name", "名称只能用小写字母、数字、- 和 _，最多 32 个字符，如 kiosk-03 · "
                                  "Name: lower-case letters, digits, - and _ only, at most 32, e.g. kiosk-03")
    if role == "edge" and name != contract.EDGE_NODE:
        raise DeviceError("name", f"边缘主机的名称必须是 {contract.EDGE_NODE} · Name: an edge is always named {contract.EDGE_NODE}")
    if role != "edge" and name in contract.RESERVED_NODE_IDS | {contract.EDGE_NODE, "doctor"}:
        raise DeviceError("name", f"名称 {name} 已保留，请换一个 · Name: {name} is reserved, choose another")
    if store.scalar("SELECT count(*) FROM devices WHERE hall_id = ? AND node_id = ? AND retired_at IS NULL", (hall_id, name)):
        raise DeviceError("name", f"该服务中心已有设备 {name} · Name: the hall already has a device {name}")
    if role == "kiosk" and kiosk_settings(store, hall_id) is None:
        raise DeviceError("role", "还没有自助机配置，请先在“自助机配置”中保存一个 · Role: there is no kiosk "
                                  "configuration yet; save one in Kiosk configuration first")


def add_device(store: Store, hall_id: str, role: str, name: str, *, by: str) -> tuple[str, str]:
    """A new device and its first join code: ``(device id, code)``."""
    check_device(store, hall_id, role, name)
    device_id = uuid.uuid4().hex
    with store.transaction():
        store.lock(f"device:{hall_id}/{name}")
        check_device(store, hall_id, role, name)  # again, under the lock: two admins at once
        store.execute("INSERT INTO devices (id, hall_id, node_id, role, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                      (device_id, hall_id, name, role, by, time.time()))
        code = new_code(store, device_id)
    return device_id, code


def new_code(store: Store, device_id: str) -> str:
    """A fresh join code for a live device (a card rewritten, a code lost); earlier unused
    codes of the device stop working."""
    now = time.time()
    code = _new_code()
    with store.transaction():
        store.execute("UPDATE join_codes SET used_at = ?, used_by = 'replaced' WHERE device_id = ? AND used_at IS NULL",
                      (now, device_id))
        store.execute("INSERT INTO join_codes (code_hash, device_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                      (digest(code), device_id, now, now + CODE_VALID_S))
    return code


def device(store: Store, device_id: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM devices WHERE id = ?", (device_id,))
    return rows[0] if rows else None


def retire(store: Store, device_id: str, *, by: str) -> bool:
    """Retire a device: its login leaves the hall's roster, its centre token and unused codes
    stop working. False if it was retired already."""
    now = time.time()
    with store.transaction():
        cur = store.execute("UPDATE devices SET retired_at = ?, retired_by = ? WHERE id = ? AND retired_at IS NULL",
                            (now, by, device_id))
        if cur.rowcount != 1:
            return False
        row = device(store, device_id)
        assert row is not None
        store.execute("UPDATE join_codes SET used_at = ?, used_by = 'retired' WHERE device_id = ? AND used_at IS NULL",
                      (now, device_id))
        credentials.revoke(store, row["hall_id"], row["node_id"])
    return True


def listing(store: Store, where: str, params: list[Any]) -> list[dict[str, Any]]:
    """Devices (``where`` narrows on ``d.hall_id``), live first, with their last contact: the
    edge's last sync, a kiosk's or board's last birth as the edge reported it."""
    return store.query(
        "SELECT d.id, d.hall_id, h.name AS hall_name, d.node_id, d.role, d.created_at, d.enrolled_at, d.retired_at, "
        "CASE WHEN d.role = 'edge' THEN h.last_sync ELSE n.node_ts END AS last_contact, "
        "(SELECT max(c.expires_at) FROM join_codes c WHERE c.device_id = d.id AND c.used_at IS NULL) AS code_expires "
        "FROM devices d JOIN halls h ON h.hall_id = d.hall_id "
        "LEFT JOIN hall_nodes n ON n.hall_id = d.hall_id AND n.node_id = d.node_id "
        f"WHERE {where} ORDER BY (CASE WHEN d.retired_at IS NULL THEN 0 ELSE 1 END), d.hall_id, d.role, d.node_id",
        params)


# -- the API's side ----------------------------------------------------------------------------


def roster(store: Store, hall_id: str) -> list[BrokerLogin]:
    """The hall's live broker logins: enrolled devices that are not retired."""
    rows = store.query("SELECT node_id, broker_hash FROM devices WHERE hall_id = ? AND retired_at IS NULL "
                       "AND broker_hash IS NOT NULL ORDER BY node_id", (hall_id,))
    return [BrokerLogin(user=r["node_id"], hash=r["broker_hash"]) for r in rows]


def kiosk_settings(store: Store, hall_id: str) -> dict[str, Any] | None:
    """The kiosk settings the hall runs: the newest version published to it, else the newest
    saved; None when the centre has none."""
    rows = store.query("SELECT a.doc FROM config_assignments a JOIN configs c ON c.version = a.version "
                       "WHERE a.hall_id = ? AND c.target = 'kiosk' ORDER BY a.version DESC LIMIT 1", (hall_id,))
    if rows:
        doc = rows[0]["doc"] if isinstance(rows[0]["doc"], dict) else json.loads(rows[0]["doc"])
        return doc["body"]
    rows = store.query("SELECT body FROM configs WHERE target = 'kiosk' ORDER BY version DESC LIMIT 1")
    if rows:
        return rows[0]["body"] if isinstance(rows[0]["body"], dict) else json.loads(rows[0]["body"])
    return None


def _refuse_if_limited(store: Store, address: str, now: float) -> None:
    wrong = store.scalar("SELECT count(*) FROM enrol_failures WHERE address = ? AND ts > ?", (address, now - WRONG_WINDOW_S))
    if wrong >= MAX_WRONG:
        raise Refused("too_many", 429, f"错误的加入码太多，请 {WRONG_WINDOW_S // 60} 分钟后再试 · Too many wrong join "
                                       f"codes from this address; try again in {WRONG_WINDOW_S // 60} minutes")


def _wrong(store: Store, address: str, now: float, code: str, detail: str) -> Refused:
    store.execute("DELETE FROM enrol_failures WHERE ts < ?", (now - WRONG_WINDOW_S,))
    store.execute("INSERT INTO enrol_failures (address, ts) VALUES (?, ?)", (address, now))
    return Refused(code, 410 if code in ("used", "expired") else 404, detail)


def enrol(store: Store, code: str, *, centre_url: str, key: Any, address: str, valid_days: int) -> Enrolment:
    """Take a join code and answer what the device needs; :class:`Refused` (nothing written
    but the wrong try) for a code that is unknown, used, expired or of a retired device."""
    now = time.time()
    _refuse_if_limited(store, address, now)
    with store.transaction():
        rows = store.query(
            "SELECT c.code_hash, c.expires_at, c.used_at, c.used_by, d.id, d.hall_id, d.node_id, d.role, h.name AS hall_name "
            "FROM join_codes c JOIN devices d ON d.id = c.device_id JOIN halls h ON h.hall_id = d.hall_id "
            "WHERE c.code_hash = ?", (digest(code),))
        refusal = _why_not(rows, now)
        if refusal is None:
            row = rows[0]
            store.lock(f"device:{row['hall_id']}/{row['node_id']}")
            cur = store.execute("UPDATE join_codes SET used_at = ?, used_by = ? WHERE code_hash = ? AND used_at IS NULL",
                                (now, address[:64], row["code_hash"]))
            if cur.rowcount == 1:  # all of it or nothing: a refusal below leaves the code unused
                return _answer(store, row, now, centre_url=centre_url.rstrip("/"), key=key, valid_days=valid_days)
            refusal = ("used", USED)  # the same code twice at once: the other one took it
    raise _wrong(store, address, now, *refusal)


USED = "加入码已用过，请在管理后台的“设备”页重新生成 · This join code was used already: make a new one in the devices page"


def _why_not(rows: list[dict[str, Any]], now: float) -> tuple[str, str] | None:
    if not rows:
        return "unknown", "没有这个加入码，请核对后重新输入 · No such join code: check it and type it again"
    row = rows[0]
    if row["used_by"] == "retired":
        return "retired", "该设备已停用 · This device was retired"
    if row["used_at"] is not None:
        return "used", USED
    if row["expires_at"] <= now:
        return "expired", "加入码已过期（24 小时有效），请重新生成 · This join code has expired (valid 24 h): make a new one"
    return None


def _answer(store: Store, row: dict[str, Any], now: float, *, centre_url: str, key: Any, valid_days: int) -> Enrolment:
    hall_id, node, role = row["hall_id"], row["node_id"], row["role"]
    password = secrets.token_urlsafe(24)
    store.execute("UPDATE devices SET broker_hash = ?, enrolled_at = ? WHERE id = ?",
                  (passwd.hash_password(password), now, row["id"]))
    token = credentials.issue(store, hall_id, node) if role == "edge" else None
    settings = kiosk_settings(store, hall_id)
    if role == "kiosk":
        if settings is None:
            raise Refused("no_settings", 409, "还没有自助机配置 · The centre has no kiosk configuration yet")
        _assign_published(store, hall_id, node, key, now, valid_days)
    config = build_config(role, hall_id=hall_id, hall_name=row["hall_name"], node=node, centre_url=centre_url,
                          settings=settings, public_key=public_key_b64(key))
    return Enrolment(hall_id=hall_id, hall_name=row["hall_name"], node_id=node, role=role, config=config,
                     broker_password=password, config_public_key=public_key_b64(key), centre_token=token,
                     roster=roster(store, hall_id) if role == "edge" else [])


def _assign_published(store: Store, hall_id: str, node: str, key: Any, now: float, valid_days: int) -> None:
    """The hall's newest published kiosk configuration, signed for the new kiosk too, so the
    centre's view of what it should run is right from its first day."""
    rows = store.query("SELECT version, doc FROM config_assignments WHERE hall_id = ? ORDER BY version DESC LIMIT 1", (hall_id,))
    if not rows:
        return
    body = (rows[0]["doc"] if isinstance(rows[0]["doc"], dict) else json.loads(rows[0]["doc"]))["body"]
    doc = sign(key, hall=hall_id, node=node, version=rows[0]["version"], expires=now + valid_days * 86400, body=body)
    store.execute("INSERT INTO config_assignments (hall_id, node_id, version, doc, published_by, published_at) "
                  "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hall_id, node_id, version) DO NOTHING",
                  (hall_id, node, rows[0]["version"], doc.model_dump_json(), "enrolment", now))
