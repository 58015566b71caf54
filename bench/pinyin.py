"""The pinyin keyboard: the time to the first candidates, the lookup latency and the memory
of a kiosk that types, with the index read from set-up's SQLite file (``kiosk.ime``) against
jieba's dictionary built in the process (how the kiosk did it before issue 20), in the same run.

Each side runs in a fresh child process: it imports the kiosk and builds its app (as the
tests do, no bus), reads its RSS, asks for the first candidates (the file side opens the
index; the jieba side builds it in memory first, as the kiosk did at start), reads its RSS
again, then looks up every input of ``tests/data/ime_candidates.json`` ``--rounds`` times
(per lookup: p50, p99). Sides alternate for ``--pairs`` pairs. Then the kiosk as ``hall up``
starts it (``python -m kiosk`` on a real mosquitto): its RSS once it listens and after its
first ``/ime`` request. Needs the index built (``scripts/setup``). Run:

    .venv/bin/python bench/pinyin.py [--rounds 20] [--pairs 2]
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from harness import ROOT, broker, machine, options, part_process, pct, scratch

INPUTS = list(json.loads((ROOT / "tests" / "data" / "ime_candidates.json").read_text(encoding="utf-8")))


def rss_mb(pid: int | str = "self") -> tuple[float, float]:
    """VmRSS and VmHWM (the peak) of ``pid`` in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def side(which: str, rounds: int) -> dict:
    """One side, in this (fresh) process."""
    import tempfile

    import kiosk
    from hall_common.config import KioskConfig
    from kiosk.ime import PinyinIME

    d = Path(tempfile.mkdtemp())
    (d / "pw").write_text("x")
    app = kiosk.create_app(KioskConfig(hall_id="bench", hall_name="基准大厅", node_id="kiosk-01", data_dir=d,
                                       broker={"password_file": d / "pw"}, http={"port": 1},
                                       settings={"info": {"service_phone": "028-1000", "complaint_phone": "028-2000"}}))
    out: dict = {"app_rss": rss_mb()[0]}
    t0 = time.perf_counter()
    if which == "jieba":
        from kiosk.ime_build import MemoryWords, ranked

        app.extensions["ime"] = PinyinIME(words=MemoryWords(ranked()))
    ime = app.extensions["ime"]
    first = ime.candidates("wuye")
    out["first_s"] = time.perf_counter() - t0
    assert first[0].text == "物业", first
    out["first_rss"] = rss_mb()[0]
    times = []
    for _ in range(rounds):
        for letters in INPUTS:
            t = time.perf_counter()
            ime.candidates(letters)
            times.append((time.perf_counter() - t) * 1e6)
    out.update(p50_us=pct(times, 50), p99_us=pct(times, 99), n=len(times))
    out["end_rss"], out["peak_rss"] = rss_mb()
    out["jieba_loaded"] = "jieba" in sys.modules
    return out


def kiosk_process(settle_s: float = 1.0) -> dict:
    """``python -m kiosk`` as ``hall up`` starts it: RSS once it listens, first ``/ime`` time and RSS after."""
    from hall_cli.broker import free_port

    with scratch() as d, broker(d, ("kiosk-01",)) as running:
        port = free_port()
        (d / "kiosk.toml").write_text(
            f'hall_id = "bench"\nhall_name = "基准大厅"\nnode_id = "kiosk-01"\ndata_dir = "k"\nlog_level = "WARNING"\n'
            f'[broker]\nport = {running.port}\npassword_file = "kiosk-01.pw"\n[http]\nport = {port}\n'
            '[settings.info]\nservice_phone = "028-1000"\ncomplaint_phone = "028-2000"\n', encoding="utf-8")
        t0 = time.perf_counter()
        with part_process(["-m", "kiosk", "--config", str(d / "kiosk.toml")], port, timeout=30) as proc:
            listening_s = time.perf_counter() - t0
            time.sleep(settle_s)  # let start-up threads (bus, disk watch) settle
            started = rss_mb(proc.pid)[0]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            t = time.perf_counter()
            conn.request("GET", "/ime?q=wuye")
            body = json.loads(conn.getresponse().read())
            first_ms = (time.perf_counter() - t) * 1000
            assert body["candidates"][0]["text"] == "物业", body
            for letters in INPUTS:
                conn.request("GET", f"/ime?q={letters}")
                conn.getresponse().read()
            conn.close()
            after, peak = rss_mb(proc.pid)
    return {"listening_s": listening_s, "start_rss": started, "first_ms": first_ms, "after_rss": after,
            "peak_rss": peak}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--side":
        print(json.dumps(side(sys.argv[2], int(os.environ.get("BENCH_ROUNDS", "20")))))
        return
    args = options(__doc__, rounds=20, pairs=2)
    env = {**os.environ, "BENCH_ROUNDS": str(args.rounds)}
    results: dict[str, list[dict]] = {"file": [], "jieba": []}
    for _ in range(args.pairs):
        for which in ("file", "jieba"):
            run = subprocess.run([sys.executable, __file__, "--side", which], env=env, capture_output=True, text=True,
                                 check=True)
            results[which].append(json.loads(run.stdout))
    print(f"machine: {machine()}")
    print(f"{len(INPUTS)} inputs x {args.rounds} rounds per side, {args.pairs} pair(s), sides alternating")
    print(f"{'side':<7}{'app RSS':>9}{'1st cands':>11}{'RSS then':>10}{'RSS end':>9}{'peak':>8}"
          f"{'p50 µs':>9}{'p99 µs':>9}  jieba imported")
    for which, runs in results.items():
        for r in runs:
            print(f"{which:<7}{r['app_rss']:>7.1f}MB{r['first_s'] * 1000:>9.1f}ms{r['first_rss']:>8.1f}MB"
                  f"{r['end_rss']:>7.1f}MB{r['peak_rss']:>6.1f}MB{r['p50_us']:>9.1f}{r['p99_us']:>9.1f}  "
                  f"{r['jieba_loaded']}")
    f, j = results["file"][-1], results["jieba"][-1]
    print(f"file vs jieba: RSS after first candidates {f['first_rss'] - j['first_rss']:+.1f} MB, "
          f"first candidates {f['first_s'] * 1000:.1f} ms vs {j['first_s'] * 1000:.0f} ms, "
          f"lookup p50 {f['p50_us'] / j['p50_us']:.1f}x")
    k = kiosk_process()
    print(f"python -m kiosk (file): listening after {k['listening_s']:.2f} s, RSS {k['start_rss']:.1f} MB; "
          f"first /ime {k['first_ms']:.1f} ms; after {len(INPUTS) + 1} /ime requests RSS {k['after_rss']:.1f} MB, "
          f"peak {k['peak_rss']:.1f} MB")


if __name__ == "__main__":
    main()
