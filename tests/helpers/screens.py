"""Screenshots the docs show: every test run takes its screenshot under var/screenshots (to
look at), and copies it over the one in docs/screens only with UPDATE_DOC_SCREENS=1, so a
test run leaves the checkout as it was (the clock and live data in a shot change each run)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screens"


def to_docs(shot: Path, name: str) -> None:
    """``shot`` becomes docs/screens/``name`` when UPDATE_DOC_SCREENS=1."""
    if os.environ.get("UPDATE_DOC_SCREENS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, DOCS / name)
