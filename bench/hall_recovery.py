"""How fast kiosks come back by themselves (issue goal: within 10 s), on a whole ``hall up``:

1. the broker restarted: from the broker's port open again to every kiosk's ``/healthz``
   saying the edge is up;
2. the centre unreachable (frozen with SIGSTOP, so connections hang rather than fail) for
   ``--outage`` seconds: from the centre answering again to every kiosk saying the centre is
   reachable.

The figure is printed as the worst of ``--rounds`` rounds and its ratio to the 10 s goal.
The reliability campaign's tests (``tests/test_campaign_network.py``) check the same under a
playing hall day; this measures it alone, without the day's load. Run:

    .venv/bin/python bench/hall_recovery.py [--rounds 5] [--outage 20]
"""

from __future__ import annotations

import os
import signal
import statistics
import time

from harness import machine, options, scratch

from hall_cli.broker import port_open
from simulators.hall_day import HallEnv
from tests.conftest import wait_for
from tests.hallup import campaign_plan, start_hall
from tests.test_campaign_network import all_kiosks, recovery

GOAL_S = 10.0


def main() -> None:
    args = options(__doc__, rounds=5, outage=20.0)
    with scratch() as root:
        hall = start_hall(root / "data", plan=campaign_plan(root / "plan.toml", kiosks=2))
        try:
            env = HallEnv.discover(hall.data_dir)
            wait_for(lambda: all_kiosks(env, "centre_up", True), timeout=60, interval=0.2)
            broker = []
            for _ in range(args.rounds):
                old = hall.pids()["broker"]
                os.kill(old, signal.SIGTERM)
                wait_for(lambda: all_kiosks(env, "edge_up", False), timeout=30, interval=0.05)
                wait_for(lambda: hall.pids().get("broker") not in (None, old) and port_open("127.0.0.1", hall.base),
                         timeout=60, interval=0.05)
                broker.append(recovery(env, "edge_up"))
            centre = []
            for _ in range(args.rounds):
                pid = hall.pids()["central"]
                os.kill(pid, signal.SIGSTOP)
                try:
                    wait_for(lambda: all_kiosks(env, "centre_up", False), timeout=60, interval=0.2)
                    time.sleep(args.outage)
                finally:
                    os.kill(pid, signal.SIGCONT)
                centre.append(recovery(env, "centre_up"))
        finally:
            hall.stop()
    print(f"machine: {machine()}")
    for name, times in (("broker restarted", broker), (f"centre unreachable {args.outage:g} s", centre)):
        print(f"{name}: kiosks back in median {statistics.median(times):.2f} s, worst {max(times):.2f} s "
              f"({args.rounds} rounds); worst / goal {GOAL_S:g} s = {max(times) / GOAL_S:.2f}")


if __name__ == "__main__":
    main()
