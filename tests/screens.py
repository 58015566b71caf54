"""Looking at kiosk screens in tests: a full-page screenshot for a person to look at, and
the kiosk's touch, text and contrast rules (``kiosk_checks.js``) checked on the live page.

The rules: touch targets of 20 mm (111 px on the default 15.6" 1920x1080 panel), keys of
15 mm (83 px), text of at least 24 px with a line height of 1.3, contrast of 4.5:1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHECKS = (Path(__file__).parent / "kiosk_checks.js").read_text()
KIOSK_RULES = {"minTouch": 111, "minKey": 83, "minFont": 24, "minLine": 1.3}


def screen_problems(page: Any, **rules: float) -> list[str]:
    """What on the page breaks the kiosk's rules (``rules`` override the defaults)."""
    return page.evaluate(CHECKS, {**KIOSK_RULES, **rules})


def check_screen(page: Any, shots: Path, name: str, **rules: float) -> None:
    """Screenshot the whole page to ``shots/name.png`` and hold it to the rules."""
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=shots / f"{name}.png", full_page=True)
    problems = screen_problems(page, **rules)
    assert not problems, problems
