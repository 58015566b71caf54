"""Staged rollouts and their health gate, judged from the database alone.

A rollout publishes one configuration version (kiosk, edge or board settings) to the
nodes of its halls in stages: a stage names nodes, or a percentage of them, and the last
stage is the rest. After a stage is published the rollout *waits*; the gate is judged from
what the halls report:

- a node of the stage reports this version ``rejected`` or ``rolled_back`` → **halted**,
  naming the node and its reason;
- a node of the stage is offline as the fleet view knows it (presence.py: its hall's last
  ``hall_status`` says so, or the hall has not been heard from in ``FLEET_OFFLINE_AFTER``
  seconds) → **halted**;
- a node has not reported the version applied :data:`REPORT_WITHIN_MIN` minutes (or the
  gate time, if longer) after the stage went out → **halted** (it is not there, or stuck);
- every node applied it and the gate time is over → **passed**: the admin continues to the
  next stage (or it continues by itself, if chosen at the start); after the last, **done**.

Several stateless workers judge at once (a page view, a hall's reports arriving, each
worker's tick): every change is a conditional ``UPDATE`` from the state the worker read,
so two judges make one decision, and a stage is published once.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask

from central_sync.signing import sign
from central_sync.store import Store
from hall_common.config import BoardSettings, EdgeSettings, KioskSettings
from hall_common.errors import HallError

from . import audit as audit_log
from . import edge_services, presence

REPORT_WITHIN_MIN = 15.0
"""Minutes a node of a stage has to report the version applied (at least the gate time)."""
TARGETS: dict[str, tuple[str, Any]] = {
    "kiosk": ("kiosk", KioskSettings),
    "edge": ("edge", EdgeSettings),
    "board": ("display", BoardSettings),
}
"""A rollout's target → the node kind it reaches (as births say) and its settings model."""
MAX_STAGES = 8
_NODE = re.compile(r"^(?:[a-z0-9][a-z0-9_-]{0,31}/)?[a-z0-9][a-z0-9_-]{0,31}$")


class RolloutError(HallError, ValueError):
    """A rollout that cannot start or go on; the message is the console's (中文 · English)."""


@dataclass(frozen=True)
class Publisher:
    """What signing needs: the centre's key and how long a document stays valid."""

    key: Any
    valid_days: int

    @classmethod
    def of(cls, app: Flask) -> "Publisher":
        return cls(app.extensions["config_key"], app.config["CONFIG_VALID_DAYS"])


def parse_stages(text: str) -> list[dict[str, Any]]:
    """One stage a line: node names (``kiosk-01, kiosk-02`` or ``hall/node``), ``25%``, or
    ``rest``; the rest is always the last stage."""
    stages: list[dict[str, Any]] = []
    for n, line in enumerate(l.strip() for l in text.splitlines()):
        if not line:
            continue
        where = f"第 {len(stages) + 1} 阶段 · stage {len(stages) + 1}"
        if line.lower() in ("rest", "其余"):
            stages.append({"rest": True})
        elif line.endswith("%"):
            try:
                percent = int(line[:-1].strip())
            except ValueError:
                percent = 0
            if not 1 <= percent <= 100:
                raise RolloutError(f"{where}：百分比应为 1 到 100 · percentage must be 1 to 100")
            stages.append({"percent": percent})
        else:
            nodes = [t for t in re.split(r"[\s,，]+", line) if t]
            bad = [t for t in nodes if not _NODE.match(t)]
            if bad:
                raise RolloutError(f"{where}：不是节点名 {bad[0]!r} · not a node name")
            stages.append({"nodes": nodes})
    if not stages or "rest" not in stages[-1]:
        stages.append({"rest": True})
    if stages[0].get("rest"):
        raise RolloutError("第 1 阶段应是指定节点或百分比 · stage 1 must name nodes or a percentage")
    if len(stages) > MAX_STAGES:
        raise RolloutError(f"最多 {MAX_STAGES} 个阶段 · at most {MAX_STAGES} stages")
    return stages


def describe(stage: dict[str, Any]) -> str:
    if stage.get("rest"):
        return "其余 · the rest"
    if "percent" in stage:
        return f"{stage['percent']}%"
    return ", ".join(stage["nodes"])


# -- starting, continuing, aborting ---------------------------------------------------------


def start(store: Store, publisher: Publisher, *, version: int, target: str, halls: list[str], stages: list[dict[str, Any]],
          gate_minutes: float, auto_continue: bool, user: str, now: float | None = None) -> int:
    """Create the rollout and publish its first stage; its id."""
    now = time.time() if now is None else now
    with store.transaction():
        cur = store.execute(
            "INSERT INTO rollouts (version, target, halls, stages, gate_minutes, auto_continue, status, stage, "
            "created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'publishing', -1, ?, ?, ?) RETURNING id",
            (version, target, json.dumps(sorted(halls)), json.dumps(stages), gate_minutes, int(auto_continue), user, now, now),
        )
        rid = int(dict(cur.fetchone())["id"])
        published = _publish_stage(store, publisher, load(store, rid), 0, user, now)
        if not published:
            raise RolloutError("第 1 阶段没有节点（检查节点名与服务中心）· stage 1 reaches no node (check the names and halls)")
        audit(store, user, "rollout.start", {"rollout": rid, "version": version, "target": target, "halls": sorted(halls),
                                             "stages": [describe(s) for s in stages], "gate_minutes": gate_minutes,
                                             "auto_continue": auto_continue, "published": published}, now)
    return rid


def proceed(store: Store, publisher: Publisher, rid: int, *, user: str, now: float | None = None) -> list[str]:
    """Publish the next stage of a rollout whose gate passed; the nodes it reached."""
    now = time.time() if now is None else now
    with store.transaction():
        r = load(store, rid)
        if r is None or r["status"] != "passed":
            raise RolloutError("只有通过健康检查的发布才能继续 · only a rollout whose gate passed can continue")
        claimed = store.execute("UPDATE rollouts SET status = 'publishing', updated_at = ? "
                                "WHERE id = ? AND status = 'passed' AND stage = ?", (now, rid, r["stage"])).rowcount
        if claimed != 1:
            raise RolloutError("该发布刚被他人处理 · someone else just acted on this rollout")
        published = _publish_stage(store, publisher, r, r["stage"] + 1, user, now)
        audit(store, user, "rollout.continue", {"rollout": rid, "stage": r["stage"] + 2, "published": published}, now)
    return published


def abort(store: Store, rid: int, *, user: str, now: float | None = None) -> None:
    """Stop a rollout for good: nothing more is published (what was published stays)."""
    now = time.time() if now is None else now
    with store.transaction():
        done = store.execute("UPDATE rollouts SET status = 'aborted', updated_at = ? "
                             "WHERE id = ? AND status IN ('waiting', 'passed', 'halted')", (now, rid)).rowcount
        if done != 1:
            raise RolloutError("该发布已结束 · this rollout has already ended")
        audit(store, user, "rollout.abort", {"rollout": rid}, now)


def _publish_stage(store: Store, publisher: Publisher, r: dict[str, Any], index: int, user: str, now: float) -> list[str]:
    """Sign the version for the stage's nodes and mark the stage waiting (a stage with no
    node left passes at the next judging)."""
    body = store.query("SELECT body FROM configs WHERE version = ?", (r["version"],))[0]["body"]
    body = body if isinstance(body, dict) else json.loads(body)
    expires = now + publisher.valid_days * 86400
    published = []
    for hall, node in _resolve(store, r, index):
        signed = body
        held = edge_services.current_body(store, hall, node)[1].get("services") if r["target"] == "edge" else None
        if held:
            # The hall's queue services come from its kiosk settings (edge_services.py): kept,
            # with what this version says of a service (its priority) over them.
            mine = {s["id"]: s for s in body.get("services", [])}
            signed = {**body, "services": [{**h, **mine.pop(h["id"], {})} for h in held] + list(mine.values())}
        doc = sign(publisher.key, hall=hall, node=node, version=r["version"], expires=expires, body=signed)
        store.execute(
            "INSERT INTO config_assignments (hall_id, node_id, version, doc, published_by, published_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hall_id, node_id, version) DO NOTHING",
            (hall, node, r["version"], doc.model_dump_json(), user, now),
        )
        store.execute("INSERT INTO rollout_nodes (rollout_id, stage, hall_id, node_id, published_at) VALUES (?, ?, ?, ?, ?)",
                      (r["id"], index, hall, node, now))
        published.append(f"{hall}/{node}")
    if r["target"] == "kiosk":  # the halls' queues number tickets with the version's services (edge_services.py)
        try:
            published += edge_services.assign(store, key=publisher.key, valid_days=publisher.valid_days, user=user,
                                              version=r["version"], kiosk_body=body,
                                              halls={p.split("/", 1)[0] for p in published}, now=now)
        except edge_services.EdgeAhead as exc:
            raise RolloutError(str(exc)) from None
    store.execute("UPDATE rollouts SET status = 'waiting', stage = ?, stage_started_at = ?, updated_at = ? WHERE id = ?",
                  (index, now, now, r["id"]))
    return published


def _resolve(store: Store, r: dict[str, Any], index: int) -> list[tuple[str, str]]:
    """The nodes stage ``index`` reaches: of the target's kind in the rollout's halls, not
    reached by an earlier stage."""
    kind = TARGETS[r["target"]][0]
    halls = r["halls"]
    marks = ", ".join("?" for _ in halls)
    everyone = [(n["hall_id"], n["node_id"]) for n in store.query(
        f"SELECT hall_id, node_id FROM hall_nodes WHERE kind = ? AND hall_id IN ({marks}) ORDER BY hall_id, node_id",
        (kind, *halls))]
    done = {(n["hall_id"], n["node_id"]) for n in store.query(
        "SELECT hall_id, node_id FROM rollout_nodes WHERE rollout_id = ?", (r["id"],))}
    left = [n for n in everyone if n not in done]
    stage = r["stages"][index]
    if stage.get("rest"):
        return left
    if "percent" in stage:
        # A stable choice: the same nodes come first every time for this version.
        left.sort(key=lambda n: hashlib.sha256(f"{r['version']}/{n[0]}/{n[1]}".encode()).hexdigest())
        return left[: max(1, round(len(everyone) * stage["percent"] / 100))]
    named = set(stage["nodes"])
    return [n for n in left if n[1] in named or f"{n[0]}/{n[1]}" in named]


# -- judging ----------------------------------------------------------------------------------


def load(store: Store, rid: int) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM rollouts WHERE id = ?", (rid,))
    if not rows:
        return None
    r = rows[0]
    r["halls"], r["stages"] = json.loads(r["halls"]), json.loads(r["stages"])
    return r


def stage_nodes(store: Store, rid: int, stage: int | None = None, *, now: float | None = None,
                offline_after: float | None = None) -> list[dict[str, Any]]:
    """The rollout's nodes (of one stage) with what each reported and whether it is there:
    ``presence`` (the state the fleet view shows, or None) and ``offline``, judged at ``now``
    with ``offline_after`` (default: the serving app's ``FLEET_OFFLINE_AFTER``)."""
    now = time.time() if now is None else now
    limit = presence.offline_after() if offline_after is None else offline_after
    sql = ("SELECT n.stage, n.hall_id, n.node_id, n.published_at, c.version AS reported, c.status, c.reason, "
           "c.received_at AS reported_at, f.state AS fleet_state, f.online AS fleet_online, "
           "fh.received_at AS status_at, h.last_sync "
           "FROM rollout_nodes n LEFT JOIN config_reports c ON c.hall_id = n.hall_id AND c.node_id = n.node_id "
           "LEFT JOIN fleet_nodes f ON f.hall_id = n.hall_id AND f.node_id = n.node_id "
           "LEFT JOIN fleet_halls fh ON fh.hall_id = n.hall_id LEFT JOIN halls h ON h.hall_id = n.hall_id "
           "WHERE n.rollout_id = ?")
    args: tuple[Any, ...] = (rid,)
    if stage is not None:
        sql, args = sql + " AND n.stage = ?", (rid, stage)
    nodes = store.query(sql + " ORDER BY n.stage, n.hall_id, n.node_id", args)
    for n in nodes:
        n["presence"], n["offline"] = presence.node(n, now, limit)
    return nodes


def verdict(store: Store, r: dict[str, Any], now: float, *,
            offline_after: float | None = None) -> tuple[str, dict[str, Any] | None, str]:
    """``("halt", node, reason)``, ``("pass", None, "")`` or ``("wait", None, "")`` for a
    waiting rollout's current stage."""
    nodes = stage_nodes(store, r["id"], r["stage"], now=now, offline_after=offline_after)
    version = r["version"]
    for n in nodes:
        if n["status"] in ("rejected", "rolled_back") and (n["reason"] or "").startswith(f"{version}:"):
            return "halt", n, f"{n['status']}: {n['reason']}"
    for n in nodes:
        if n["offline"] and n["presence"] == presence.UNKNOWN:
            silent = now - (presence.last_contact(n["last_sync"], n["status_at"]) or now)
            return "halt", n, f"offline (hall silent for {silent:.0f} s) · 离线（服务中心 {silent:.0f} 秒无消息）"
        if n["offline"]:
            return "halt", n, f"offline ({n['presence']}) · 离线"
    applied = [n for n in nodes if n["status"] == "applied" and (n["reported"] or 0) >= version]
    started = r["stage_started_at"] or now
    missing = [n for n in nodes if n not in applied]
    deadline = max(r["gate_minutes"], REPORT_WITHIN_MIN)
    if missing and now >= started + deadline * 60:
        return "halt", missing[0], (f"no report of version {version} applied within {deadline:g} min "
                                    f"· {deadline:g} 分钟内未报告已应用")
    if not missing and now >= started + r["gate_minutes"] * 60:
        return "pass", None, ""
    return "wait", None, ""


def judge(store: Store, rid: int, *, now: float | None = None, publisher: Publisher | None = None,
          offline_after: float | None = None) -> dict[str, Any] | None:
    """Judge one rollout's gate if it is waiting, and act: halt, pass, continue (when it
    continues by itself and ``publisher`` is given, also one that passed earlier without a
    key at hand) or finish. The rollout as it is now. ``offline_after``: see
    :func:`stage_nodes`."""
    now = time.time() if now is None else now
    r = load(store, rid)
    if r is not None and r["status"] == "passed" and r["auto_continue"] and publisher is not None:
        _continue_by_itself(store, publisher, rid, now)
        return load(store, rid)
    if r is None or r["status"] != "waiting":
        return r
    decision, node, reason = verdict(store, r, now, offline_after=offline_after)
    if decision == "halt":
        with store.transaction():
            if store.execute("UPDATE rollouts SET status = 'halted', halted_hall = ?, halted_node = ?, halted_reason = ?, "
                             "updated_at = ? WHERE id = ? AND status = 'waiting' AND stage = ?",
                             (node["hall_id"], node["node_id"], reason[:500], now, rid, r["stage"])).rowcount == 1:
                audit(store, "system", "rollout.halt", {"rollout": rid, "stage": r["stage"] + 1, "hall": node["hall_id"],
                                                        "node": node["node_id"], "reason": reason[:500]}, now)
    elif decision == "pass":
        last = r["stage"] + 1 >= len(r["stages"])
        with store.transaction():
            status = "done" if last else "passed"
            if store.execute("UPDATE rollouts SET status = ?, updated_at = ? WHERE id = ? AND status = 'waiting' AND stage = ?",
                             (status, now, rid, r["stage"])).rowcount == 1:
                audit(store, "system", f"rollout.{status}", {"rollout": rid, "stage": r["stage"] + 1}, now)
        if not last and r["auto_continue"] and publisher is not None:
            _continue_by_itself(store, publisher, rid, now)
    return load(store, rid)


def _continue_by_itself(store: Store, publisher: Publisher, rid: int, now: float) -> None:
    try:
        proceed(store, publisher, rid, user="system", now=now)
    except RolloutError:
        pass  # another worker continued it first


def judge_waiting(store: Store, *, hall: str | None = None, now: float | None = None,
                  publisher: Publisher | None = None, offline_after: float | None = None) -> int:
    """Judge every waiting rollout, and every passed one that continues by itself (that
    reaches ``hall``, if given); how many were judged."""
    rows = store.query("SELECT id, halls FROM rollouts WHERE status = 'waiting' "
                       "OR (status = 'passed' AND auto_continue = 1) ORDER BY id")
    ids = [r["id"] for r in rows if hall is None or hall in json.loads(r["halls"])]
    for rid in ids:
        judge(store, rid, now=now, publisher=publisher, offline_after=offline_after)
    return len(ids)


def audit(store: Store, user: str, action: str, detail: dict[str, Any], now: float) -> None:
    """A rollout's line names its hall when it is about one node's hall (a halt); a rollout
    over several halls is company-wide, read on the rollout's own page."""
    audit_log.write(store, user, action, detail, hall=detail.get("hall"), ts=now)
