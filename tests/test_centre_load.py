"""The centre under 500 halls: PostgreSQL behind several gunicorn workers, each hall with its
own credential running the sync worker's loop, a share of answers lost so the same batches
come again. Every record a hall was told the centre holds is there exactly once, under that
hall, unchanged by its duplicates; each hall's last sync is the time of its last answer; no
answer other than 200; the workers' memory levels off. Figures are ``bench/centre_halls.py``'s;
nothing here depends on how fast the machine is."""

from __future__ import annotations

import pytest

from .helpers.centre_load import Sampler, check, memory, run_load, running_centre

HALLS = 500


@pytest.mark.slow
def test_500_halls_sync_exactly_once(pg_server, tmp_path):
    with running_centre(tmp_path, halls=HALLS, workers=4, pg=pg_server) as centre:
        with Sampler(centre):
            result = run_load(centre, duration=40, rate=0.3, lost_share=0.1, processes=2, threads=32)
        problems = check(centre, result)

    assert len(result.reports) == HALLS
    assert all(r.batches > 0 for r in result.reports), "every hall got through"
    assert result.errors() == []
    assert {k: v[:5] for k, v in problems.items() if v} == {}
    # The run did what it says: every kind of record, and many batches sent twice.
    kinds = {k for r in result.reports for k in r.kinds}
    assert kinds >= {"ticket", "service_rating", "complaint", "complaint_event", "rating", "help_request", "alarm",
                     "device_event", "queue_daily", "node_birth"}
    assert result.total("lost_answers") > 100
    assert result.total("duplicates_acked") == result.total("duplicates_sent") > 0
    assert result.total("applied") == sum(len(r.created) for r in result.reports)
    # Memory: the workers hold about as much at the end of the run as in its first third
    # (a leak per request would add megabytes a minute at this rate).
    mem = memory(centre, result)
    assert mem["last_third_total"] <= mem["first_third_total"] * 1.25 + 40, mem
