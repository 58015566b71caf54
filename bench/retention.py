"""How long the daily retention run takes (edge_agent/retention.py, central_sync/server/retention.py).

A hall with ``--years`` of residents' requests (``--per-day`` a day, each with four steps, a
note and a rating's comment, plus one kiosk payment a request), and a centre holding
``--halls`` such halls (the projection and the ledger, on SQLite and on PostgreSQL). With
``keep_years = 3``, two runs are timed:

* the first run on data that never had one: a whole year of requests crosses the line;
* the run of the next day: one day's requests.

The baseline is the plainest erasure of the same requests: one ``UPDATE`` emptying the
personal columns of ``complaints`` older than the line, on the same database, in the same
run. Run::

    .venv/bin/python bench/retention.py [--years 4] [--per-day 40] [--halls 5]
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from harness import machine, options, scratch

from central_sync.server import credentials
from central_sync.server import retention as centre_retention
from central_sync.server.schema import MIGRATIONS
from central_sync.store import Store, migrate
from edge_agent.db import migrations
from edge_agent.retention import Retention
from hall_cli.broker import free_port
from hall_common.config import PrivacyConfig
from hall_common.storage import immediate, open_database
from tests.helpers.clock import Clock, at
from tests.pg import start_postgres

DAY = 86400.0
START = at(2022, 1, 1, 9, 0)
BLANK = "name = '', phone = '', room = '', place = '', content = '', wanted = ''"


def history(years: int, per_day: int, hall: int = 0):
    """(complaint row, its four steps) for each request, oldest first."""
    for day in range(int(years * 365)):
        for k in range(per_day):
            t = START + day * DAY + k * 600
            cid = str(uuid.uuid4())
            row = {"id": cid, "tracking_no": f"{hall:03d}{day:06d}{k:04d}", "kind": "repair", "category": "facilities",
                   "place": "3 栋 2 单元", "content": f"单元门门禁坏了，刷卡没反应，第 {k} 户", "wanted": "尽快修好",
                   "name": "张三丰", "room": f"3-2-{100 + k}", "phone": f"138{k:04d}{day % 10000:04d}",
                   "received_at": t, "rating_comment": "师傅很耐心"}
            steps = [(t, "submitted", ""), (t + 600, "accepted", ""), (t + 3600, "resolved", "工程部王师傅已修好"),
                     (t + DAY, "closed", "")]
            yield row, steps


def fill_edge(path: Path, years: int, per_day: int) -> int:
    db = open_database(path, migrations)
    db.execute("PRAGMA synchronous = OFF")
    n = 0
    with immediate(db):
        for row, steps in history(years, per_day):
            db.execute("INSERT INTO complaints (id, request_id, tracking_no, kind, category, place, content, wanted, name, "
                       "room, phone, channel, received_at, grade, feedback_due, status, rating, rating_comment) VALUES "
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'kiosk-01', ?, 'general', ?, 'closed', 'satisfied', ?)",
                       [row["id"], row["id"], row["tracking_no"], row["kind"], row["category"], row["place"],
                        row["content"], row["wanted"], row["name"], row["room"], row["phone"], row["received_at"],
                        row["received_at"] + 3600, row["rating_comment"]])
            db.conn.executemany("INSERT INTO complaint_events (complaint, ts, event, who, note) VALUES (?, ?, ?, 'staff', ?)",
                                [(row["id"], ts, event, note) for ts, event, note in steps])
            db.execute("INSERT INTO payment_orders (order_id, out_trade_no, kiosk, room, amount_fen, lines_json, status, "
                       "created_at, expires_at, updated_at) VALUES (?, ?, 'kiosk-01', ?, 12000, '[]', 'paid', ?, ?, ?)",
                       [row["id"], row["id"], row["room"], row["received_at"], row["received_at"] + 900, row["received_at"]])
            n += 1
    db.close()
    return n


def fill_centre(store: Store, years: int, per_day: int, halls: int) -> int:
    n = 0
    with store.transaction():
        for h in range(halls):
            hall_id = f"h{h}"
            credentials.register_hall(store, hall_id, hall_id)
            complaints, events, records = [], [], []
            for row, steps in history(years, per_day, h):
                t = row["received_at"]
                complaints.append((row["id"], hall_id, row["tracking_no"], row["kind"], row["category"], row["place"],
                                   row["content"], row["wanted"], row["room"], "张**", "138****0000", "kiosk-01", "general",
                                   t, t + 3600, t + 3600, "closed", t + DAY, "satisfied", row["rating_comment"]))
                records.append((row["id"], hall_id, "edge", "complaint", t, t, json.dumps(row, ensure_ascii=False)))
                for ts, event, note in steps[1:]:
                    eid = str(uuid.uuid4())
                    events.append((eid, row["id"], hall_id, ts, event, event, "staff", note))
                    body = {"complaint": row["id"], "tracking_no": row["tracking_no"], "action": event, "status": event,
                            "who": "staff", "note": note, "ts": ts}
                    records.append((eid, hall_id, "edge", "complaint_event", ts, ts, json.dumps(body, ensure_ascii=False)))
                n += 1
            store.executemany("INSERT INTO complaints (id, hall_id, tracking_no, kind, category, place, content, wanted, "
                              "room, name_masked, phone_masked, channel, grade, received_at, feedback_due, accept_by, "
                              "status, status_ts, rating, rating_comment) VALUES "
                              "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", complaints)
            store.executemany("INSERT INTO complaint_events (id, complaint_id, hall_id, ts, action, status, who, note) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", events)
            store.executemany("INSERT INTO records (id, hall_id, node_id, kind, node_ts, received_at, body) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?)", records)
    return n


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def edge(d: Path, years: int, per_day: int, keep: int) -> dict:
    path = d / "edge.db"
    n = fill_edge(path, years, per_day)
    base = d / "baseline.db"
    base.write_bytes(path.read_bytes())
    now = START + (years * 365 + 1) * DAY
    cutoff = now - keep * 365.25 * DAY
    db = open_database(base)
    t_base, _ = timed(lambda: _plain_update(db, "UPDATE complaints SET " + BLANK + " WHERE received_at < ?", cutoff))
    db.close()
    clock = Clock(now)
    job = Retention(PrivacyConfig(keep_years=keep), db_path=path, clock=clock)
    try:
        t_first, first = timed(job.run)
        clock.advance(DAY)
        t_day, day = timed(job.run)
    finally:
        job.close()
    return {"requests": n, "size_mb": path.stat().st_size / 1e6, "first": (t_first, first), "day": (t_day, day),
            "baseline": t_base}


def _plain_update(db, sql: str, cutoff: float) -> None:
    with immediate(db):
        db.execute(sql, [cutoff])


def centre(url: str, years: int, per_day: int, halls: int, keep: int) -> dict:
    store = Store.connect(url)
    try:
        migrate(store, MIGRATIONS)
        n = fill_centre(store, years, per_day, halls)
        now = START + (years * 365 + 1) * DAY
        cutoff = now - keep * 365.25 * DAY
        sql = ("UPDATE complaints SET place = '', content = '', wanted = '', room = '', name_masked = '', phone_masked = '' "
               "WHERE received_at < ?")
        t_first, first = timed(lambda: centre_retention.run(store, keep_years=keep, now=now, day="first"))
        t_day, day = timed(lambda: centre_retention.run(store, keep_years=keep, now=now + DAY, day="next"))
        store.execute("UPDATE complaints SET erased_at = NULL")
        t_base, _ = timed(lambda: _store_update(store, sql, cutoff))
        return {"requests": n, "first": (t_first, first), "day": (t_day, day), "baseline": t_base}
    finally:
        store.close()


def _store_update(store: Store, sql: str, cutoff: float) -> None:
    with store.transaction():
        store.execute(sql, (cutoff,))


def line(where: str, r: dict) -> str:
    (t1, c1), (t2, c2) = r["first"], r["day"]
    return (f"{where}: {r['requests']:,} requests held; first run {t1:.2f} s for {c1['complaints']:,} requests "
            f"({c1['complaints'] / t1:,.0f}/s); next day {t2 * 1000:.0f} ms for {c2['complaints']:,}; "
            f"baseline (one UPDATE of the same rows) {r['baseline']:.2f} s, ratio {r['baseline'] / t1:.2f}")


def main() -> None:
    args = options(__doc__, years=4, per_day=40, halls=5, keep=3)
    with scratch() as d:
        e = edge(d, args.years, args.per_day, args.keep)
        sqlite = centre(f"sqlite:///{d}/central.db", args.years, args.per_day, args.halls, args.keep)
    server = start_postgres(free_port())
    try:
        pg = centre(server.create_database("bench"), args.years, args.per_day, args.halls, args.keep)
    finally:
        server.stop()
    print(f"machine: {machine()}")
    print(f"keep_years {args.keep}; {args.years} years of history, {args.per_day} requests a day, "
          f"four steps each; edge.db {e['size_mb']:.0f} MB")
    print(line("edge (SQLite)", e))
    print(line(f"centre, {args.halls} halls (SQLite)", sqlite))
    print(line(f"centre, {args.halls} halls (PostgreSQL)", pg))


if __name__ == "__main__":
    main()
