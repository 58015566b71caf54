"""The kiosk's Chinese catalog covers every message in the code, and nothing is stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


def test_every_message_has_a_chinese_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "babel.cfg"),
                    "-k", "_l", "-o", str(pot), str(ROOT)], check=True, capture_output=True, cwd=ROOT)
    wanted = {m.id for m in read_po(pot.open("rb")) if m.id}
    catalog = read_po((ROOT / "kiosk/translations/zh/LC_MESSAGES/messages.po").open("rb"))
    have = {m.id: m.string for m in catalog if m.id}
    missing = sorted(wanted - have.keys())
    untranslated = sorted(k for k in wanted & have.keys() if not have[k])
    assert not missing, f"not in the zh catalog (run pybabel update): {missing}"
    assert not untranslated, f"no Chinese text for: {untranslated}"
