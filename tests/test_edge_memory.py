"""The edge agent's memory stays bounded under ordinary use (issue 20).

``bench/edge_growth.py`` found what grew; each test here holds one of those places to its
bound, asserting on sizes after many requests, never on time:

- staff logins: each verifies an argon2id hash in a buffer of its own (19 MiB then, 7 MiB
  now: ``HASH_MEMORY_KIB``); glibc kept one such buffer per web server thread after it was
  freed (hall_common/malloc.py), so the edge grew by about 120 MB after a dozen logins. The real ``python -m edge_agent`` here, logged in
  to from eight browsers at once, twice each;
- the same logins at once: one hash at a time holds its buffer, not eight (the peak);
- glibc's arenas: two, not one per thread (a subprocess with many threads that allocate);
- SQLite's page cache: 512 KiB a connection, after reading a table much bigger than that;
- the failed-login limiter forgets tries older than its window for every name, not only
  for the names tried again.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import requests

from hall_cli.broker import free_port
from hall_common.auth import HASH_MEMORY_KIB, LoginLimiter

from .conftest import HALL, wait_for

ROOT = Path(__file__).resolve().parent.parent

PASSWORD = "correct horse 1"
ARGON2_BUFFER_MB = HASH_MEMORY_KIB / 1024
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """The process's resident set now (``VmRSS``) or at its highest so far (``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def edge_config(tmp_path: Path, broker, port: int) -> str:
    (tmp_path / "edge.pw").write_text(broker.passwords["edge"])
    (tmp_path / "staff.pw").write_text(PASSWORD)
    conf = tmp_path / "edge.toml"
    conf.write_text(
        f'hall_id = "{HALL}"\nhall_name = "测试"\nnode_id = "edge"\ndata_dir = "edge"\nlog_level = "WARNING"\n'
        f'[broker]\nport = {broker.port}\npassword_file = "edge.pw"\n[http]\nport = {port}\n'
        f'[bootstrap_user]\nusername = "staff"\npassword_file = "staff.pw"\nrole = "staff"\n'
    )
    return str(conf)


def healthy(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=1).ok
    except requests.ConnectionError:
        return False


def log_in(url: str) -> None:
    http = requests.Session()
    csrf = _CSRF.search(http.get(url + "/login", timeout=60).text).group(1)
    r = http.post(url + "/login", data={"username": "staff", "password": PASSWORD, "csrf_token": csrf},
                  timeout=60, allow_redirects=False)
    assert r.status_code == 302, r.text[:300]
    http.close()


def test_logins_from_many_browsers_leave_no_password_hash_buffers_behind(broker, tmp_path):
    port = free_port()
    edge = subprocess.Popen([sys.executable, "-m", "edge_agent", "--config", edge_config(tmp_path, broker, port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(url), timeout=60, interval=0.2)
        log_in(url)  # the first login's one-time costs (templates, the limiter) are not growth
        before = rss_mb(edge.pid)
        errors: list[BaseException] = []

        def browser() -> None:
            try:
                for _ in range(2):
                    log_in(url)
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append(exc)

        threads = [threading.Thread(target=browser) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        grown = rss_mb(edge.pid) - before
        # Before hall_common.malloc: one buffer kept per waitress thread that hashed (with
        # 19 MiB hashes, 100 MB and more). Now each buffer is unmapped when freed.
        assert grown < 2 * ARGON2_BUFFER_MB, f"the edge grew {grown:.1f} MB over 16 logins"
        # Eight hashes at once held eight buffers at that moment; one at a time, one.
        peak = rss_mb(edge.pid, "VmHWM") - before
        assert peak < 3 * ARGON2_BUFFER_MB, f"the edge's peak was {peak:.1f} MB above its RSS before the logins"
    finally:
        edge.terminate()
        edge.wait(30)


ARENAS = """
import re, sys, threading
from hall_common import malloc
if sys.argv[1] == "tuned":
    assert malloc.tune()
go = threading.Barrier(8)
def work():
    go.wait()  # all at once: each thread wants an arena of its own
    for _ in range(200):
        kept = [bytearray(1000 + i) for i in range(300)]  # above Python's small objects: malloc
        del kept
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
# Each arena but the main one reserves a 64 MiB region (its heap and the rest unusable).
sizes = [int(b, 16) - int(a, 16) for a, b in re.findall(r"^([0-9a-f]+)-([0-9a-f]+) ---p 0+ 00:00 0 *$",
                                                        open("/proc/self/maps").read(), re.M)]
print(sum(1 for s in sizes if s > 32 * 2**20))
"""


def count_arenas(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", ARENAS, mode], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return int(out.stdout)


def test_threads_share_two_malloc_arenas():
    assert count_arenas("tuned") <= 1  # the main arena is the process's heap, not counted
    assert count_arenas("untuned") > 1  # the test sees what it is about


CACHE = """
import ctypes, sys
from pathlib import Path
from hall_common.storage import open_database
sqlite = ctypes.CDLL("libsqlite3.so.0")
sqlite.sqlite3_memory_used.restype = ctypes.c_int64
db = open_database(Path(sys.argv[1]))
with db.conn:
    db.conn.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, body TEXT)")
    db.conn.executemany("INSERT INTO readings (body) VALUES (?)", (("x" * 200,) for _ in range(40_000)))
db.close()
db = open_database(Path(sys.argv[1]))
before = sqlite.sqlite3_memory_used()
assert db.conn.execute("SELECT count(*), sum(length(body)) FROM readings").fetchone()[0] == 40_000
print((sqlite.sqlite3_memory_used() - before) / 2**20)
"""


def test_a_connection_caches_at_most_its_bound_of_a_big_table(tmp_path):
    out = subprocess.run([sys.executable, "-c", CACHE, str(tmp_path / "big.db")], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    grown = float(out.stdout)
    # The table is about 9 MB; SQLite's default cache would keep 2 MB of it.
    assert grown < 0.8, f"one connection kept {grown:.2f} MB of pages"


def test_the_login_limiter_forgets_every_name_tried_once_after_its_window():
    now = [1000.0]
    limiter = LoginLimiter(window_s=600, clock=lambda: now[0])
    for n in range(500):  # typos and guesses, each name once, from a few counter PCs
        limiter.failed(f"name-{n}", f"10.0.0.{n % 5}")
    assert len(limiter._failures) == 505
    now[0] += 601
    limiter.failed("staff", "10.0.0.1")
    assert set(limiter._failures) == {"u:staff", "a:10.0.0.1"}
    assert limiter.wait_s("staff", "10.0.0.1") == 0
