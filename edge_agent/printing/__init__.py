"""The edge's printing: printer profiles and ticket templates (data in
``firmware_configs/printers/``), composing ESC/POS bytes in GB18030 text or bitmap mode, the
spool of jobs in SQLite, one worker thread per printer, and the service that routes jobs
and reports their outcomes. See ``docs/printing.md``."""

import os
from pathlib import Path


def _keep_escpos_capabilities() -> None:
    """Give python-escpos a folder that lasts for its parsed printer database.

    At import, ``escpos.capabilities`` reads its 1.4 MB database of printers (YAML) and keeps
    the result as a pickle in ``ESCPOS_CAPABILITIES_PICKLE_DIR``, by default a folder made
    anew with ``mkdtemp`` at each import: so every start of the edge parsed the YAML again
    (about 150 ms of its start and 3 MB of its memory, issue 20) and left a pickle of 70 KB
    in ``/tmp``. The folder here is systemd's ``CacheDirectory=`` (``$CACHE_DIRECTORY``,
    hall-edge.service) or the user's cache folder; escpos parses again when its database is
    newer than the pickle. Set before any module of this package imports escpos."""
    if "ESCPOS_CAPABILITIES_PICKLE_DIR" in os.environ:
        return
    systemd = os.environ.get("CACHE_DIRECTORY", "").split(":")[0]
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "service-hall"
    folder = Path(systemd or user) / "escpos"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # no cache to write: escpos uses a temporary folder, as before
    os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = str(folder)


_keep_escpos_capabilities()
