"""The queue services of the kiosk settings, taken to the hall's edge: one source of truth.

The kiosk settings form (``config_form.py``) is where a hall's queue services are edited:
names in both languages, ticket prefix, number range, whether priority may be asked. The
kiosk shows the names and asks priority only where allowed; the ticket itself is numbered
by the edge's queue. So whenever a kiosk settings version reaches a hall's kiosks (the
form's save-and-publish, "publish" on the versions list or the TOML page, a roll back, a
kiosk rollout's stage), the
same transaction signs an :class:`~hall_common.config.EdgeSettings` document for that
hall's edge, **derived** from the version's services, with the **same version number**:
a hall runs version N on its kiosks and its edge alike, and the next ticket has the new
prefix and range (the edge's self-check and ``queue/engine.py`` say how a running day
takes it).

The derived document keeps what the hall's edge was last given besides services (the
priority rule and hours of an edge rollout, ``rollouts.py``); a version with no services
gives the edge back its own. Nothing is signed when the edge already has that content.

Before anything is saved, the form is checked against what the hall's edge last said of
its queue (its ``hall_status``: each service's id and prefix): a service id the hall does
not have, or a prefix one of its other services has, is refused with the field named.
"""

from __future__ import annotations

import json
import time
from typing import Any

from central_sync.signing import sign
from central_sync.store import Store
from hall_common.config import EdgeSettings, KioskSettings
from hall_common.errors import HallError

from .config_form import Problem


class EdgeAhead(HallError, ValueError):
    """The hall's edge already runs a newer document with other content: publishing an
    older version would be refused by it (roll back instead, which makes a new version).
    The message is the console's (中文 · English)."""


def _json(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)


def hall_services(store: Store, hall: str) -> dict[str, str] | None:
    """The hall queue's own services, id → prefix, as its edge last reported them; None
    when unknown (no status yet, or an edge too old to say)."""
    rows = store.query("SELECT body FROM records WHERE hall_id = ? AND kind = 'hall_status' "
                       "ORDER BY node_ts DESC LIMIT 1", (hall,))
    services = _json(rows[0]["body"]).get("services") if rows else None
    return {s["id"]: s["prefix"] for s in services} if services else None


def problems(settings: KioskSettings, known: dict[str, str] | None) -> list[Problem]:
    """What the hall's edge would refuse in ``settings``' services, in the form's words."""
    if known is None:
        return []
    out: list[Problem] = []
    listed = {s.id for s in settings.services}
    others = {prefix: sid for sid, prefix in known.items() if sid not in listed}
    for n, s in enumerate(settings.services):
        row = f"服务 {n + 1} · Service {n + 1}: "
        if s.id not in known:
            has = ", ".join(sorted(known))
            out.append(Problem(row + "编号 · id", f"services.{n}.id",
                               f"该服务中心的排队没有服务 {s.id!r}（有：{has}）· not one of this hall queue's services "
                               f"(it has: {has})"))
        elif s.prefix in others:
            out.append(Problem(row + "号码前缀 · Ticket prefix", f"services.{n}.prefix",
                               f"前缀 {s.prefix} 已是该服务中心的服务 {others[s.prefix]!r} 的 · prefix {s.prefix} is "
                               f"already this hall's service {others[s.prefix]!r}"))
    return out


def derive(kiosk_body: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The edge's settings for a kiosk settings version: ``current`` (what the edge was last
    given) with its services replaced by the version's."""
    services = [{"id": s["id"], "name_zh": s["name_zh"], "name_en": s["name_en"], "prefix": s["prefix"],
                 "first": s.get("first", 1), "last": s.get("last", 999), "priority_allowed": s.get("priority", True)}
                for s in kiosk_body.get("services", [])]
    body = {k: v for k, v in current.items() if k != "services"}
    if services:
        body["services"] = services
    return _normal(body)


def _normal(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as the edge settings model writes it, an empty service list left out, so
    that equal settings compare equal."""
    out = EdgeSettings.model_validate(body).model_dump(mode="json", exclude_none=True)
    if not out.get("services"):
        out.pop("services", None)
    return out


def current_body(store: Store, hall: str, node: str) -> tuple[int, dict[str, Any]]:
    """The newest document assigned to ``hall``'s edge ``node``: its version and body (0, {} if none)."""
    rows = store.query("SELECT version, doc FROM config_assignments WHERE hall_id = ? AND node_id = ? "
                       "ORDER BY version DESC LIMIT 1", (hall, node))
    return (int(rows[0]["version"]), _json(rows[0]["doc"])["body"]) if rows else (0, {})


def assign(store: Store, *, key: Any, valid_days: int, user: str, version: int, kiosk_body: dict[str, Any],
           halls: set[str], now: float | None = None) -> list[str]:
    """Sign the edge settings derived from kiosk version ``version`` for the edges of
    ``halls``, in the caller's transaction; ``hall/node`` of each edge given it. Raises
    :class:`EdgeAhead` when an edge runs a newer, different document."""
    now = time.time() if now is None else now
    published = []
    for hall in sorted(halls):
        for row in store.query("SELECT node_id FROM hall_nodes WHERE hall_id = ? AND kind = 'edge' ORDER BY node_id",
                               (hall,)):
            node = row["node_id"]
            held, current = current_body(store, hall, node)
            body = derive(kiosk_body, current)
            if body == _normal(current) or held == version:
                continue
            if held > version:
                raise EdgeAhead(f"服务中心 {hall} 的边缘主机已在运行更新的版本 {held}，旧版本 {version} 的排队服务无法下发；"
                                f"请用“回滚到此版本” · The edge of hall {hall} already runs version {held}: version "
                                f"{version}'s queue services cannot reach it; use \"roll back to this\" instead")
            doc = sign(key, hall=hall, node=node, version=version, expires=now + valid_days * 86400, body=body)
            store.execute(
                "INSERT INTO config_assignments (hall_id, node_id, version, doc, published_by, published_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hall_id, node_id, version) DO NOTHING",
                (hall, node, version, doc.model_dump_json(), user, now))
            published.append(f"{hall}/{node}")
    return published
