"""Each part loads only what it uses (issue 20: the board and the kiosk fit 45 MB each).

A heavy library imported at start stays in the process's memory for its whole life, so
each part is built here the way its ``__main__`` builds it (configuration, bus client not
yet connected, signed-settings applier, app) in a fresh interpreter, and the test names
any module it must not have loaded:

- every part: no pydantic-settings (nor the asyncio and python-dotenv it imports: it is
  loaded only when the environment overrides a key, see ``hall_common.config.base``);
- the board: no OpenCV, numpy, password hashing, ``cryptography``/``nacl`` (signatures are
  verified by :mod:`hall_common.ed25519`, which loads PyNaCl only when a signature arrives),
  payment code, SQLite (sqlite3 and its helpers), segno, jieba, or the other parts'
  configuration schemas;
- the kiosk: none of the above but sqlite3 (its keyboard's index), segno only once a QR
  code is shown, and OpenCV, pyzbar and numpy never, not even after a scan (each scan runs
  in a child process, :class:`kiosk.camera.ChildProcessCamera`);
- the edge agent: no OpenCV, numpy (sqlite-utils' optional import), ``cryptography``,
  ``nacl``, the centre's payment code, or the kiosk's, board's and centre's schemas.

``bench/footprint.py`` measures what this keeps.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

NOWHERE = ("cv2", "pyzbar", "numpy", "nacl", "central_sync.server", "central_sync.server.payments",
           "pydantic_settings", "asyncio", "dotenv")
BOARD_NEVER = (*NOWHERE, "argon2", "cryptography", "sqlite_utils", "sqlite3", "jieba", "PIL", "escpos", "segno",
               "hall_common.config.kiosk", "hall_common.config.edge", "hall_common.config.central")
KIOSK_NEVER = (*NOWHERE, "argon2", "cryptography", "sqlite_utils", "segno",
               "hall_common.config.display", "hall_common.config.edge", "hall_common.config.central")
EDGE_NEVER = (*NOWHERE, "cryptography", "hall_common.config.kiosk", "hall_common.config.display",
              "hall_common.config.central")

PUBLIC_KEY = "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik="
"""Any 32 bytes in base64: nothing is verified while a part starts."""

COMMON = """
import json, sys
from pathlib import Path
from hall_common.bus.client import BusClient
d = Path(sys.argv[1])
(d / "pw").write_text("secret")
base = dict(hall_id="h1", hall_name="测试大厅", data_dir=d / "data", http={"port": 1},
            broker={"host": "127.0.0.1", "port": 1, "password_file": d / "pw"})
def bus(node, kind):
    return BusClient(hall_id="h1", node_id=node, kind=kind, host="127.0.0.1", port=1, password="secret", session=1)
def report(step):
    print(json.dumps({"step": step, "modules": sorted(sys.modules)}))
"""

BOARD = """
from hall_common.config import DisplayConfig
import hall_display
from hall_display.board import BoardState
from hall_display.settings_apply import BoardSettingsApplier
from hall_common.voice import Voice
config = DisplayConfig(node_id="display-01", config_public_key=KEY, **base)
board = BoardState(voice=Voice(config.data_dir / "voice"))
b = bus("display-01", "display")
board.follow(b)
BoardSettingsApplier(b, board, config)
app = hall_display.create_app(config, board)
app.test_client().get("/")
report("created")
"""

KIOSK = """
from hall_common.config import KioskConfig
import kiosk
from kiosk.config_apply import ConfigApplier, printers_from
from kiosk.status import HallStatus
config = KioskConfig(node_id="kiosk-01", config_public_key=KEY, camera={"kind": "images", "images_dir": str(d / "camera")},
                     settings={"info": {"service_phone": "028-1", "complaint_phone": "028-2"}}, **base)
b = bus("kiosk-01", "kiosk")
status = HallStatus(b)
app = kiosk.create_app(config, status, b)
ConfigApplier(app, b, public_key=KEY, state_path=config.data_dir / "applied-config.json", printers=printers_from(status))
for page in ("/", "/track", "/service/bills", "/info", "/help"):
    app.test_client().get(page)
report("created")
assert app.extensions["camera"].scan(2) == "http://edge/t/1012611240429"
report("scanned")
"""

EDGE = """
from hall_common.config import EdgeConfig
import edge_agent
from edge_agent.agent import EdgeAgent
config = EdgeConfig(node_id="edge", config_public_key=KEY, **base)
agent = EdgeAgent(config)
app = edge_agent.create_app(config, services=agent.services)
app.test_client().get("/login")
report("created")
"""


def run_part(script: str, tmp_path: Path) -> dict[str, set[str]]:
    """Run ``script`` in a fresh interpreter; the modules loaded at each ``report(step)``."""
    code = COMMON.replace("KEY", repr(PUBLIC_KEY)) + textwrap.dedent(script).replace("KEY", repr(PUBLIC_KEY))
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    steps = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"step"')]
    return {s["step"]: set(s["modules"]) for s in steps}


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules)


def test_the_check_sees_a_planted_import(tmp_path):
    # sqlite-utils imported directly, not through hall_common.storage, brings numpy with it.
    steps = run_part("import sqlite_utils\nimport cryptography.exceptions\nreport('planted')", tmp_path)
    assert loaded(steps["planted"], BOARD_NEVER) == ["cryptography", "numpy", "sqlite3", "sqlite_utils"]


def test_the_board_loads_no_camera_crypto_payments_database_or_other_schemas(tmp_path):
    steps = run_part(BOARD, tmp_path)
    assert loaded(steps["created"], BOARD_NEVER) == []
    assert "hall_common.config.display" in steps["created"]


def test_the_kiosk_never_loads_opencv_its_scans_run_in_a_child_process(tmp_path):
    import qrcode

    (tmp_path / "camera").mkdir()
    qrcode.make("http://edge/t/1012611240429").save(tmp_path / "camera" / "receipt.png")
    steps = run_part(KIOSK, tmp_path)
    assert loaded(steps["created"], KIOSK_NEVER) == []
    assert loaded(steps["scanned"], KIOSK_NEVER) == []  # the scan found the code, in a child process


@pytest.mark.parametrize("never", [EDGE_NEVER])
def test_the_edge_loads_no_numpy_opencv_crypto_or_other_schemas(tmp_path, never):
    steps = run_part(EDGE, tmp_path)
    assert loaded(steps["created"], never) == []
    assert "sqlite_utils" in steps["created"]  # it has a database: sqlite-utils, without numpy


def test_the_edge_keeps_escpos_parsed_printer_database_between_starts(tmp_path: Path) -> None:
    """python-escpos parses its printer database (YAML) at import unless it finds the pickle
    of an earlier parse; by default it looks in a new temporary folder each time, so every
    start parsed again and left a folder behind. The edge gives it a cache folder: systemd's
    ``$CACHE_DIRECTORY`` on the Pi, the user's cache folder otherwise; processes starting
    together take turns, and a pickle cut short is parsed again."""
    probe = ("import edge_agent.printing.compose, escpos.capabilities as c; "
             "print(c.full_load, c.pickle_dir)")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    base = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TMPDIR": str(tmp)}

    def start(**env: str) -> tuple[bool, Path]:
        done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                              timeout=60, env={**base, **env})
        assert done.returncode == 0, done.stderr[-2000:]
        parsed, folder = done.stdout.split()
        return parsed == "True", Path(folder)

    user = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert start(**user) == (True, tmp_path / "cache" / "service-hall" / "escpos")  # the first start parses
    assert start(**user) == (False, tmp_path / "cache" / "service-hall" / "escpos")  # the next reads the pickle
    systemd = {**user, "CACHE_DIRECTORY": str(tmp_path / "var-cache")}
    assert start(**systemd) == (True, tmp_path / "var-cache" / "escpos")
    assert start(**systemd) == (False, tmp_path / "var-cache" / "escpos")
    # No pickle in the temporary folder. (escpos still makes one empty folder there at each
    # import: ``environ.get(..., mkdtemp())`` makes its default before looking.)
    assert not list(tmp.rglob("*.pickle"))

    # Six starting at once on an empty folder: one parses and writes, none reads half a pickle.
    together = {"XDG_CACHE_HOME": str(tmp_path / "together")}
    starts = [subprocess.Popen([sys.executable, "-c", probe], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**base, **together}) for _ in range(6)]
    outcomes = [p.communicate(timeout=120) for p in starts]
    assert [p.returncode for p in starts] == [0] * 6, [err[-500:] for _, err in outcomes]
    assert sorted(out.split()[0] for out, _ in outcomes) == ["False"] * 5 + ["True"]

    # A pickle cut short (a power cut while escpos wrote it) is parsed again, not fatal.
    [kept] = (tmp_path / "cache" / "service-hall" / "escpos").glob("*.pickle")
    kept.write_bytes(kept.read_bytes()[:100])
    assert start(**user)[0] is True
    assert start(**user)[0] is False
