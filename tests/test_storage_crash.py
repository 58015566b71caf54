"""edge.db survives a crash mid-write, a power cut mid-write, and a full disk.

**Crash (SIGKILL).** A child process (``helpers/storage_writer.py``) writes queue tickets
(the real ``QueueEngine``), alarms (``Alarms``) and help requests with their outbox records
(``central_sync.client.add`` in one transaction) in a tight loop, and prints each write once
its commit returned. The parent kills it at a random moment, 20 times on the same file, and
opens the database as the restarted agent would. A SIGKILL is not a power cut: the kernel
keeps every page the process wrote, so this proves the transactions are atomic and the file
recovers (WAL replay), not that the data reached the disk.

**Power cut.** What a power cut leaves is what reached the disk. The child is stopped
(SIGSTOP) at a random moment, possibly in the middle of a commit or a checkpoint, and its
``edge.db`` and ``edge.db-wal`` are copied; then the copy's WAL is damaged the way a power
cut can damage it:

* with ``synchronous=FULL`` (the project's setting) every commit fsyncs the WAL before it
  returns, and a checkpoint writes back only synced frames. So only the bytes after the
  last complete commit frame can be lost or torn: the WAL copy is cut at a random byte
  there and random garbage (a torn sector) appended. Every write the child had reported
  must be in the copy;
* a disk that loses even synced writes (or ``synchronous=NORMAL``) can lose any tail of the
  WAL: the copy is cut at a random byte anywhere. WAL promises a consistent *prefix* of the
  committed transactions: exactly the transactions whose commit frame lies wholly before
  the cut, and nothing of the others. That is asserted only when the database file was not
  touched by a checkpoint since the child started (its bytes are unchanged), because a real
  checkpoint never writes back frames that are not on the disk, and a cut below them would
  model something that cannot happen.

Each copy must pass ``PRAGMA integrity_check``, stay in WAL mode, hold every fact with its
outbox record and events exactly once, and queue numbers unique and without gaps per
service per day.

**Full disk.** ``PRAGMA max_page_count`` on a write path's own connection makes SQLite
answer ``SQLITE_FULL`` as a full disk does when the database file must grow. (A real full
disk can also refuse to grow the WAL; the same error comes back from the same place.)
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from central_sync import client as outbox
from edge_agent.alarms import Alarms
from edge_agent.complaints.service import ComplaintService
from edge_agent.db import migrations
from edge_agent.queue.engine import QueueEngine
from hall_common.config import ComplaintsConfig, QueueConfig
from hall_common.errors import BusTimeout, RequestFailed
from hall_common.storage import immediate, open_database

WRITER = Path(__file__).parent / "helpers" / "storage_writer.py"
RUNS = 20
SEED = 20261124
ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
FIGURES: dict[str, int] = {}


# -- reading what a database holds ----------------------------------------------------------


def facts(path: Path) -> set[tuple[str, str]]:
    """Every write the child can have made that ``path`` holds, as ``(kind, id)``; fails the
    test on anything half-written or doubled. Opens with the project's ``open_database``
    (as the restarted agent does), after checking the file's own journal mode."""
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    finally:
        raw.close()
    db = open_database(path, migrations)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        q = lambda sql: db.execute(sql).fetchall()  # noqa: E731
        # Records for the centre, by what they carry (an alarm's record has its own id).
        out: dict[tuple[str, str], int] = Counter()
        for kind, rid, body_id in q("SELECT kind, id, json_extract(body, '$.id') FROM outbox"):
            assert kind in ("ticket", "alarm", "help_request"), kind
            out[(kind, body_id if kind == "alarm" else rid)] += 1
        # Tickets: each with exactly one outbox record and one "issued" event, and no orphans.
        tickets = {r[0] for r in q("SELECT id FROM tickets")}
        issued = Counter(r[0] for r in q("SELECT ticket FROM ticket_events WHERE event = 'issued'"))
        assert {r[0] for r in q("SELECT DISTINCT ticket FROM ticket_events")} <= tickets
        # Alarms: one row, one log line, one outbox record each.
        alarms = {r[0] for r in q("SELECT id FROM alarms")}
        logged = Counter(r[0] for r in q("SELECT alarm FROM alarm_log"))
        helps = {r[0] for r in q("SELECT id FROM help_requests")}
        assert all(issued[t] == 1 for t in tickets) and sum(issued.values()) == len(tickets)
        assert all(logged[a] == 1 for a in alarms) and sum(logged.values()) == len(alarms)
        expected = ({("ticket", t) for t in tickets} | {("alarm", a) for a in alarms}
                    | {("help_request", h) for h in helps})
        assert set(out) == expected, "a fact without its outbox record, or a record without its fact"
        assert all(n == 1 for n in out.values()), "a record for the centre written twice"
        # Numbers: unique, from 1, without gaps, per service per day; the counter agrees.
        numbers: dict[tuple[str, str], list[int]] = {}
        for day, service, number in q("SELECT day, issued_service, number FROM tickets ORDER BY number"):
            numbers.setdefault((day, service), []).append(number)
        lasts = {(day, service): last for day, service, last in q("SELECT day, service, last FROM queue_numbers")}
        assert set(numbers) <= set(lasts)
        for key, last in lasts.items():
            assert numbers.get(key, []) == list(range(1, last + 1)), f"numbers of {key} are not 1..{last}"
        return {("T", t) for t in tickets} | {("A", a) for a in alarms} | {("H", h) for h in helps}
    finally:
        db.close()


def reported(out: Path) -> list[tuple[str, str]]:
    """The writes the child said were committed, in commit order (only whole lines count)."""
    text = out.read_text()
    lines = text.split("\n")[:-1]  # the part after the last newline may be half a line
    return [(line.split()[0], line.split()[1]) for line in lines if line != "ready"]


# -- the WAL file -----------------------------------------------------------------------------


def _checksum(data: bytes, s1: int, s2: int, big: bool) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s1 = (s1 + words[i] + s2) & 0xFFFFFFFF
        s2 = (s2 + words[i + 1] + s1) & 0xFFFFFFFF
    return s1, s2


def commit_ends(wal: bytes) -> list[int]:
    """The byte offsets where each committed transaction of ``wal`` ends, as SQLite's own
    recovery reads it: frames with the header's salts and a checksum chained from the header,
    up to the first that is not; a transaction counts once its commit frame is read."""
    if len(wal) < 32:
        return []
    magic, _version, page_size, _seq, salt1, salt2, c1, c2 = struct.unpack(">8I", wal[:32])
    if magic not in (0x377F0682, 0x377F0683):
        return []
    big = bool(magic & 1)
    s1, s2 = _checksum(wal[:24], 0, 0, big)
    if (s1, s2) != (c1, c2):
        return []
    ends, offset, frame = [], 32, 24 + page_size
    while offset + frame <= len(wal):
        pgno, commit, f_salt1, f_salt2, f_c1, f_c2 = struct.unpack(">6I", wal[offset:offset + 24])
        if pgno == 0 or (f_salt1, f_salt2) != (salt1, salt2):
            break
        s1, s2 = _checksum(wal[offset:offset + 8], s1, s2, big)
        s1, s2 = _checksum(wal[offset + 24:offset + frame], s1, s2, big)
        if (s1, s2) != (f_c1, f_c2):
            break
        offset += frame
        if commit:
            ends.append(offset)
    return ends


def power_cut_copy(src_db: bytes, wal: bytes, where: Path, cut: int, garbage: bytes = b"") -> Path:
    """A copy of the database as a power cut leaves it: the WAL kept up to ``cut`` bytes,
    then ``garbage`` (a torn write). No -shm: it is rebuilt from the WAL on open."""
    where.mkdir(parents=True)
    (where / "edge.db").write_bytes(src_db)
    (where / "edge.db-wal").write_bytes(wal[:cut] + garbage)
    return where / "edge.db"


# -- the crash test -------------------------------------------------------------------------


def _wait_lines(out: Path, n: int, child: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while out.read_text().count("\n") < n:
        assert child.poll() is None, f"the writer died: {child.returncode}"
        assert time.monotonic() < deadline, "the writer does not write"
        time.sleep(0.001)


def test_killed_or_cut_mid_write_the_database_opens_whole_and_loses_nothing_committed(tmp_path):
    rng = random.Random(SEED)
    path = tmp_path / "edge.db"
    open_database(path, migrations).close()
    known: set[tuple[str, str]] = set()
    every_reported: set[tuple[str, str]] = set()
    figures = dict(runs=0, kills=0, reported=0, checked=0, unreported_committed=0, snapshots=0,
                   full_cuts=0, prefix_cuts=0, prefix_cuts_skipped=0, prefix_commits_kept=0, prefix_commits_cut=0)
    for run in range(RUNS):
        assert not Path(f"{path}-wal").exists()  # the last close checkpointed and removed it
        db_before = path.read_bytes()
        out = tmp_path / f"out-{run}.txt"
        with out.open("w") as stdout:
            child = subprocess.Popen([sys.executable, str(WRITER), str(path), str(run)], stdout=stdout,
                                     stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
        try:
            _wait_lines(out, 1, child)
            # A power cut at a random moment: freeze the child, take the files as they are.
            _wait_lines(out, 1 + rng.randint(1, 40), child)
            child.send_signal(signal.SIGSTOP)
            _, status = os.waitpid(child.pid, os.WUNTRACED)  # stopped for sure, not still running
            assert os.WIFSTOPPED(status)
            snap_db = path.read_bytes()
            snap_wal = Path(f"{path}-wal").read_bytes()
            at_stop = reported(out)
            child.send_signal(signal.SIGCONT)
            # Then a crash at another random moment (mid-commit, mid-checkpoint...).
            time.sleep(rng.uniform(0.0, 0.6))
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
        figures["runs"] += 1
        figures["kills"] += 1
        figures["snapshots"] += 1

        # 1. The killed database, as the restarted agent opens it.
        done = reported(out)
        assert done[:len(at_stop)] == at_stop
        present = facts(path)
        assert set(done) <= present, "a write reported committed is missing after the kill"
        assert known <= present, "a write of an earlier run is gone"
        extra = present - known - set(done)
        assert len(extra) <= 1, "more than the one write in flight was stored unreported"
        figures["unreported_committed"] += len(extra)
        figures["reported"] += len(done)
        figures["checked"] += len(present)
        every_reported |= set(done)

        # 2. Power cut with synchronous=FULL: only the unsynced tail (the transaction in
        #    flight) can be lost or torn.
        ends = commit_ends(snap_wal)
        assert ends, "the child had reported writes but its WAL holds no commit"
        cut = rng.randint(ends[-1], len(snap_wal))
        garbage = rng.randbytes(rng.randint(0, 2 * 4120))
        copy = power_cut_copy(snap_db, snap_wal, tmp_path / f"full-{run}", cut, garbage)
        held = facts(copy)
        assert set(at_stop) <= held, "a write reported before the power cut is missing"
        assert known <= held
        assert len(held - known - set(at_stop)) <= 1
        figures["full_cuts"] += 1

        # 3. A cut anywhere in the WAL: a consistent prefix of the commits, exactly.
        if snap_db != db_before:
            figures["prefix_cuts_skipped"] += 1  # a checkpoint ran: only frames on the disk are written back
        else:
            assert len(ends) - len(at_stop) in (0, 1), "one commit per write, each reported after its commit"
            cut = rng.randint(0, len(snap_wal))
            kept = sum(end <= cut for end in ends)
            held = facts(power_cut_copy(snap_db, snap_wal, tmp_path / f"prefix-{run}", cut))
            assert known <= held
            new = held - known
            assert len(new) == kept, f"cut at byte {cut}: {len(new)} writes held, {kept} commits before the cut"
            assert set(at_stop[:kept]) <= new, "the copy holds a later commit without an earlier one"
            figures["prefix_cuts"] += 1
            figures["prefix_commits_kept"] += kept
            figures["prefix_commits_cut"] += len(ends) - kept
        known = present

    assert figures["prefix_cuts"] >= RUNS // 2  # the freeze is early enough that most copies qualify
    FIGURES.update(figures, records_final=len(known), reported_total=len(every_reported))
    print("\nstorage crash figures:", json.dumps(FIGURES))


def test_open_database_settings_are_the_documented_ones(tmp_path):
    db = open_database(tmp_path / "edge.db", migrations)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        db.close()


# -- a full disk ----------------------------------------------------------------------------


def counts(db) -> dict[str, int]:
    tables = ("complaints", "complaint_events", "complaint_numbers", "tickets", "ticket_events", "queue_numbers",
              "alarms", "alarm_log", "help_requests", "outbox")
    out = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    out["complaint_last"] = db.execute("SELECT coalesce(sum(last), 0) FROM complaint_numbers").fetchone()[0]
    out["queue_last"] = db.execute("SELECT coalesce(sum(last), 0) FROM queue_numbers").fetchone()[0]
    return out


def disk_full(db) -> None:
    """From now on this connection cannot grow the file: SQLITE_FULL, as on a full disk."""
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    assert db.execute(f"PRAGMA max_page_count = {pages}").fetchone()[0] == pages


def disk_freed(db) -> None:
    db.execute("PRAGMA max_page_count = 1073741823")


def until_full(db, write, limit: int = 500):
    """Call ``write(i)`` until it fails; the counts just before the failing call, and its error."""
    for i in range(limit):
        before = counts(db)
        try:
            write(i)
        except sqlite3.OperationalError as exc:
            return i, before, exc
    pytest.fail(f"{limit} writes fit in a full database")


def assert_clean_failure(db, path: Path, before: dict[str, int], exc: sqlite3.OperationalError) -> None:
    assert exc.sqlite_errorname == "SQLITE_FULL" and str(exc) == "database or disk is full"
    assert not db.conn.in_transaction  # rolled back: the connection is usable
    assert counts(db) == before, "a failed write left something behind"
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    other = open_database(path)
    try:
        assert counts(other) == before and other.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        other.close()


def submission(i: int) -> dict:
    return {"request": f"full-disk-{i:04d}", "kind": "repair", "category": "facilities", "place": "3 栋 2 单元",
            "content": f"单元门门禁坏了，刷卡没反应 {i}" + "很急" * 100, "wanted": "尽快修好", "name": "张三丰",
            "room": "3-2-101", "phone": "13812345678", "occurred_at": time.time() - 600}


def test_a_full_disk_refuses_a_complaint_cleanly_and_the_kiosk_hears_an_error(broker, tmp_path):
    path = tmp_path / "edge.db"
    open_database(path, migrations).close()
    service = ComplaintService(ComplaintsConfig(hall_code="101", hours=ALWAYS), db_path=path, bus=None)
    edge, kiosk = broker.client("edge"), broker.client("kiosk-01")
    service.attach(edge)
    try:
        first = None
        for _ in range(10):  # until the edge's subscription is in place: the way works
            try:
                first = kiosk.request("complaint", submission(9999), timeout=1)
                break
            except BusTimeout:
                pass
        assert first is not None
        disk_full(service.db)
        i, before, exc = until_full(service.db, lambda i: service.answer("complaint", "kiosk-01", submission(i)))
        assert_clean_failure(service.db, path, before, exc)
        # The resident's kiosk gets an error answer, not silence: the kiosk's submit view
        # turns any HallError into "could not be sent, tap Confirm again or go to the desk".
        with pytest.raises(RequestFailed) as failed:
            kiosk.request("complaint", submission(i), timeout=5)
        assert failed.value.code == "internal" and str(failed.value) == "internal: internal error"
        assert counts(service.db) == before
        # Space again: the same request id (the kiosk's retry) is stored once, numbered next.
        disk_freed(service.db)
        receipt = kiosk.request("complaint", submission(i), timeout=5)
        again = kiosk.request("complaint", submission(i), timeout=5)
        assert receipt == again and receipt["tracking_no"] != first["tracking_no"]
        after = counts(service.db)
        assert after["complaints"] == before["complaints"] + 1 and after["outbox"] == before["outbox"] + 1
        assert after["complaint_last"] == before["complaint_last"] + 1  # no number was lost to the failure
    finally:
        service.close()


def test_a_full_disk_refuses_a_ticket_without_using_up_its_number(tmp_path):
    path = tmp_path / "edge.db"
    db = open_database(path, migrations, shared_thread=True)
    engine = QueueEngine(db, QueueConfig(hours=ALWAYS), record=lambda d, kind, body, node, rid:
                         outbox.add(d, kind, body, node=node, record_id=rid))
    try:
        disk_full(db)
        i, before, exc = until_full(db, lambda i: engine.issue("procedures", kiosk="kiosk-01", request=f"ticket-{i:04d}"))
        assert_clean_failure(db, path, before, exc)
        disk_freed(db)
        ticket = engine.issue("procedures", kiosk="kiosk-01", request=f"ticket-{i:04d}").ticket
        assert ticket.number == before["queue_last"] + 1  # no gap
    finally:
        db.close()


def test_a_full_disk_refuses_an_alarm_as_a_whole(tmp_path):
    path = tmp_path / "edge.db"
    open_database(path, migrations).close()
    alarms = Alarms(path, None, node="edge")
    try:
        disk_full(alarms.db)

        def raise_(i: int) -> None:
            # On a full disk raise_ answers False (its callers' threads must not die) and
            # keeps the error it met.
            if not alarms.raise_(f"full.{i}", source="edge/test", type="test", severity="minor",
                                 text="磁盘满测试 " * 40):
                raise alarms.store_error

        _, before, exc = until_full(alarms.db, raise_)
        assert_clean_failure(alarms.db, path, before, exc)
    finally:
        alarms.close()


def test_a_full_disk_at_the_outbox_rolls_back_the_fact_it_carries(tmp_path):
    path = tmp_path / "edge.db"
    db = open_database(path, migrations)
    try:
        with immediate(db):
            db["help_requests"].insert({"id": "earlier", "node": "kiosk-01", "ts": 1.0})
        disk_full(db)
        before = counts(db)
        fact_written = False
        row = {"id": str(uuid.uuid4()), "node": "kiosk-01", "ts": time.time()}
        with pytest.raises(sqlite3.OperationalError) as failed:
            with immediate(db):
                db["help_requests"].insert(row)
                fact_written = True
                outbox.add(db, "help_request", {**row, "note": "x" * 20000}, node="kiosk-01", record_id=row["id"])
        assert fact_written, "the fact itself already failed: the test did not reach the outbox"
        assert_clean_failure(db, path, before, failed.value)
        assert db.execute("SELECT count(*) FROM help_requests WHERE id = ?", [row["id"]]).fetchone() == (0,)
    finally:
        db.close()
