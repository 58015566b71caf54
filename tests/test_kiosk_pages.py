"""Every kiosk screen in headless Chromium, in both languages, in elder mode and in both
orientations: screenshots for a person to look at, and automated checks of touch target
sizes, text size, line spacing and contrast on each."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import wait_for
from .screens import screen_problems

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "var" / "screenshots" / "kiosk"
LAYOUT_SHIFT = """() => new Promise((done) => {
  let total = 0;
  new PerformanceObserver((list) => { for (const e of list.getEntries()) if (!e.hadRecentInput) total += e.value; })
    .observe({ type: "layout-shift", buffered: true });
  setTimeout(() => done(total), 200);
})"""

SIZES = {"portrait": (1080, 1920), "landscape": (1920, 1080)}
SCREENS = ["home", "info", "help", "help-called", "track", "track-errors", "track-result", "service-counter", "service-bills"]


@pytest.fixture(scope="module")
def hall(module_mini):
    """One mini hall for every screen: broker, edge agent watching a central server, kiosk."""
    central = module_mini.central()
    agent = module_mini.edge(centre_url=central.url)
    served, app = module_mini.kiosk()
    wait_for(lambda: app.extensions["hall_status"].snapshot().centre_up)
    return module_mini, served, agent


def visit(page, base: str, screen: str) -> None:
    """Bring the page to ``screen`` the way a resident would."""
    if screen == "home":
        page.goto(base)
    elif screen == "info":
        page.goto(base + "info")
    elif screen == "help":
        page.goto(base + "help")
    elif screen == "help-called":
        page.goto(base + "help")
        page.click("button.huge")
        page.wait_for_selector(".result")
    elif screen == "track":
        page.goto(base + "track")
    elif screen == "track-errors":
        page.goto(base + "track")
        page.click(".key[data-key='1']")
        page.click("button.wide-btn")
        page.wait_for_selector(".error")
    elif screen == "track-result":
        page.goto(base + "track")
        for k in "1012611240429":  # 13 digits, as the receipt prints them
            page.click(f".key[data-key='{k}']")
        page.click("#last4")
        for k in "5678":
            page.click(f".key[data-key='{k}']")
        page.click("button.wide-btn")
        page.wait_for_selector(".result")
    elif screen == "service-counter":
        page.goto(base + "service/complaints")
    elif screen == "service-bills":
        page.goto(base + "service/bills")


@pytest.mark.parametrize("orientation", list(SIZES))
@pytest.mark.parametrize("lang", ["zh_CN", "en"])
@pytest.mark.parametrize("elder", [False, True], ids=["normal", "elder"])
def test_every_screen(hall, browser, orientation, lang, elder):
    mini, served, _ = hall
    width, height = SIZES[orientation]
    context = browser.new_context(viewport={"width": width, "height": height}, has_touch=True)
    page = context.new_page()
    out = SHOTS / f"{orientation}-{lang}-{'elder' if elder else 'normal'}"
    out.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(served.url)
        if lang == "en":
            page.click("button[lang=en]")
            page.wait_for_selector("html[lang=en]")
        if elder:
            page.click("button[aria-pressed=false]")
            page.wait_for_selector("body.elder")
        problems = {}
        for screen in SCREENS:
            visit(page, served.url, screen)
            page.screenshot(path=out / f"{screen}.png", full_page=True)
            found = screen_problems(page, minFont=32 if elder else 24)
            shift = page.evaluate(LAYOUT_SHIFT)
            if shift > 0.01:
                found.append(f"layout shift {shift:.3f}")
            if found:
                problems[screen] = found
            text = page.inner_text("body")
            if lang == "zh_CN":
                assert "首页" in text and "帮助" in text, screen
            else:
                assert "Home" in text and "Help" in text, screen
        assert not problems, problems
        page_lang = page.get_attribute("html", "lang")
        assert page_lang == ("zh-CN" if lang == "zh_CN" else "en")
    finally:
        context.close()


def test_elder_mode_speaks_the_screen(hall, browser):
    mini, served, _ = hall
    context = browser.new_context(viewport={"width": 1080, "height": 1920})
    page = context.new_page()
    try:
        page.goto(served.url)
        assert page.query_selector("audio#voice") is None
        page.click("button[aria-pressed=false]")
        page.wait_for_selector("body.elder")
        src = page.get_attribute("audio#voice", "src")
        assert src and src.endswith(".wav")
        response = page.request.get(served.url.rstrip("/") + src)
        assert response.status == 200 and response.body()[:4] == b"RIFF" and len(response.body()) > 10_000
        again = page.request.get(served.url.rstrip("/") + src)
        assert again.body() == response.body()  # cached per phrase
        assert page.request.get(served.url + "voice/0123456789abcdef01234567.wav").status == 404
    finally:
        context.close()


def test_home_screenshots_for_the_docs(hall, browser):
    """The README shows the home screen from docs/screens. They are real screenshots of the
    current page; set UPDATE_DOC_SCREENS=1 to take them anew (the clock in them changes, so
    an ordinary test run leaves the committed files alone)."""
    from PIL import Image

    docs = ROOT / "docs" / "screens"
    if os.environ.get("UPDATE_DOC_SCREENS"):
        docs.mkdir(parents=True, exist_ok=True)
        for orientation in SIZES:
            shutil.copy(SHOTS / f"{orientation}-zh_CN-normal" / "home.png", docs / f"kiosk-home-{orientation}.png")
    for orientation, (width, height) in SIZES.items():
        with Image.open(docs / f"kiosk-home-{orientation}.png") as im:
            assert im.size[0] == width and im.size[1] >= height
    assert "docs/screens/kiosk-home-portrait.png" in (ROOT / "README.md").read_text(encoding="utf-8")
