"""The edge's printing: printer profiles and ticket templates (data in
``firmware_configs/printers/``), composing ESC/POS bytes in GB18030 text or bitmap mode, the
spool of jobs in SQLite, one worker thread per printer, and the service that routes jobs
and reports their outcomes. See ``docs/printing.md``."""

import fcntl
import os
import pickle
from pathlib import Path

PICKLE_DIR = "ESCPOS_CAPABILITIES_PICKLE_DIR"


def _capabilities_folder() -> Path | None:
    """Where python-escpos keeps its parsed printer database: ``$ESCPOS_CAPABILITIES_PICKLE_DIR``
    if set (a parent process set it), else systemd's ``CacheDirectory=``
    (``$CACHE_DIRECTORY``, hall-edge.service) or the user's cache folder, then set in the
    environment for escpos and for this process's children; None when no such folder can
    be made (escpos then uses a temporary one, as it does by default)."""
    if os.environ.get(PICKLE_DIR):
        return Path(os.environ[PICKLE_DIR])
    systemd = os.environ.get("CACHE_DIRECTORY", "").split(":")[0]
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "service-hall"
    folder = Path(systemd or user) / "escpos"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    os.environ[PICKLE_DIR] = str(folder)
    return folder


def _load_escpos_capabilities() -> None:
    """Load python-escpos's printer database from a folder that lasts, one process at a time.

    At import, ``escpos.capabilities`` reads its 1.4 MB database of printers (YAML) and keeps
    the result as a pickle in ``$ESCPOS_CAPABILITIES_PICKLE_DIR``, by default a folder made
    anew with ``mkdtemp`` at each import: so every start of the edge parsed the YAML again
    (about 150 ms of its start and 3 MB of its memory, issue 20) and left a pickle of 70 KB
    in ``/tmp``. With a folder that lasts, escpos parses only when its database is newer
    than the pickle. It writes the pickle in place, so two processes starting together
    (tests, ``hall up``) could read one half written: the import holds a lock on the folder.
    A pickle cut short anyway (a power cut while it was written) is deleted and parsed
    again, or the edge could never start."""
    folder = _capabilities_folder()
    if folder is None:
        return
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            import escpos.capabilities  # noqa: F401  (loaded here, under the lock)
        except (EOFError, pickle.UnpicklingError):
            for cut_short in folder.glob("*.pickle"):
                cut_short.unlink()
            import escpos.capabilities  # noqa: F401,F811  (parsed again, the pickle written anew)


_load_escpos_capabilities()
