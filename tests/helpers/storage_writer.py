"""Writes to an edge.db in a tight loop the way the edge agent does, for tests that kill it.

Usage: storage_writer.py DB_PATH RUN

Opens the database with the project's own ``open_database`` and migrations, then cycles
through three writers, each on its own connection as in the agent:

* a queue ticket through the real :class:`QueueEngine` (its outbox record in the same
  transaction, as ``QueueService`` does);
* an alarm through ``Alarms(db_path, None, node="edge")`` (alarm, log line, outbox record);
* a help request and its outbox record through ``central_sync.client.add`` in one
  ``immediate`` transaction.

Prints ``ready`` once open, then one line per committed write, after the commit returned:
``T <ticket id> <service> <number>``, ``A <alarm id>``, ``H <help request id>``. Each line is
one ``write()`` on stdout, so it is on its way to the parent before the next write starts.
Runs until killed.
"""

import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from central_sync import client as outbox
from edge_agent.alarms import Alarms
from edge_agent.db import migrations
from edge_agent.queue.engine import QueueEngine
from hall_common.config import QueueConfig, ServiceConfig
from hall_common.storage import immediate, open_database

ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
SERVICES = ("procedures", "consult", "payment")


class Clock:
    """One service day for every run (10:00 Shanghai time, plus a millisecond a call)."""

    def __init__(self) -> None:
        self.t = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()

    def __call__(self) -> float:
        self.t += 0.001
        return self.t


def main() -> None:
    path, run = Path(sys.argv[1]), sys.argv[2]
    db = open_database(path, migrations, shared_thread=True)  # the agent's own connection
    queue_db = open_database(path, shared_thread=True)  # QueueService's
    # The widest number range: every run shares one service day, and a fast machine writes
    # thousands of tickets in twenty runs.
    services = [ServiceConfig(id=s, name_zh="测试", name_en="Test", prefix=p, last=9999) for s, p in zip(SERVICES, "ABC")]
    engine = QueueEngine(queue_db, QueueConfig(hours=ALWAYS, services=services), clock=Clock(), hall_id="t1",
                         record=lambda d, kind, body, node, rid: outbox.add(d, kind, body, node=node, record_id=rid))
    alarms = Alarms(path, None, node="edge")
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    i = 0
    while True:
        step = i % 3
        if step == 0:
            service = SERVICES[(i // 3) % len(SERVICES)]
            t = engine.issue(service, kiosk="kiosk-01", request=f"crash-{run}-{i:06d}").ticket
            line = f"T {t.id} {t.service} {t.number}\n"
        elif step == 1:
            alarm_id = f"crash.{run}.{i:06d}"
            alarms.raise_(alarm_id, source="edge/crash-test", type="test", severity="minor", text=f"run {run} write {i}")
            line = f"A {alarm_id}\n"
        else:
            row = {"id": str(uuid.uuid4()), "node": "kiosk-01", "ts": time.time()}
            with immediate(db):
                db["help_requests"].insert(row)
                outbox.add(db, "help_request", row, node="kiosk-01", record_id=row["id"])
            line = f"H {row['id']}\n"
        out.write(line)
        out.flush()
        i += 1


if __name__ == "__main__":
    main()
