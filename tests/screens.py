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


def kiosk_page(browser: Any, url: str) -> Any:
    """``url`` in a touch page the size of the kiosk's 1920x1080 panel."""
    page = browser.new_page(viewport={"width": 1920, "height": 1080}, has_touch=True)
    page.goto(url)
    return page


def kiosk_session(page: Any, kiosk: Any) -> str:
    """The kiosk's session as the browser holds it, decoded (Flask signs and compresses it);
    ``kiosk`` is the served kiosk app."""
    app = kiosk.app
    cookie = next((c["value"] for c in page.context.cookies() if c["name"] == app.config["SESSION_COOKIE_NAME"]), None)
    return str(app.session_interface.get_signing_serializer(app).loads(cookie)) if cookie else ""


def staff_page(browser: Any, url: str) -> Any:
    """The edge console's page at ``url`` in Chromium, logged in as ``staff`` (the user of
    tests/minihall.py's console): its login form is answered, then ``url`` opened again."""
    from .minihall import STAFF_PASSWORD

    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(url)
    page.fill("#username", "staff")
    page.fill("#password", STAFF_PASSWORD)
    page.click("button[type=submit]")
    page.goto(url)
    return page
