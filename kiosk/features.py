"""The services on the kiosk's home screen, and what every page template is given.

A feature is one tile: its title, a hint, an icon, the view that serves it and the parts
of the hall it needs. A feature whose view is not installed at this kiosk, or whose part is
down, leads to a screen that says where to go instead: nothing on the home screen is a dead
end. Later features (queue numbers, disclosures, bills, complaints, ratings) fill in
``endpoint`` as their blueprints arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app, session, url_for
from flask_babel import get_locale, lazy_gettext as _l

from hall_common.hours import local_now, today

from .nav import leave
from .status import OFFLINE, Snapshot


@dataclass(frozen=True)
class Feature:
    key: str
    title: object
    hint: object
    icon: str
    needs: tuple[str, ...] = ()
    endpoint: str | None = None


FEATURES: tuple[Feature, ...] = (
    Feature("queue", _l("Take a number"), _l("Queue for the counter"), "ticket", ("edge", "open"), "queue.choose"),
    Feature("disclosures", _l("Public notices"), _l("Fees, contracts, accounts"), "notice", ("edge",),
            "disclosures.index"),
    Feature("bills", _l("Bills and payment"), _l("See and pay your bills"), "bill", ("edge", "centre"),
            "bills.start"),
    Feature("complaints", _l("Complaints, repairs, suggestions"), _l("Tell us, we follow up"), "complaint", ("edge",),
            "complaints.start"),
    Feature("track", _l("Track my request"), _l("Progress of a request"), "search", ("edge",), "flows.track"),
    Feature("rate", _l("Rate our service"), _l("How did we do?"), "star", ("edge",), "rating.start"),
    Feature("info", _l("Hall information"), _l("Hours, phones, services"), "info", (), "home.info"),
)


def hall_now() -> datetime:
    settings = current_app.config["SETTINGS"]
    return local_now(settings.hours, current_app.config["CLOCK"]())


def snapshot() -> Snapshot:
    status = current_app.extensions.get("hall_status")
    return status.snapshot() if status is not None else OFFLINE


def blocked_by(f: Feature, snap: Snapshot, open_now: bool) -> str | None:
    """Why a feature cannot be used right now: ``edge``, ``centre``, ``closed``,
    ``counter`` (not offered at this kiosk) or None."""
    if "edge" in f.needs and not snap.edge_up:
        return "edge"
    if "centre" in f.needs and not snap.centre_up:
        return "centre"
    if "open" in f.needs and not open_now:
        return "closed"
    if f.endpoint is None:
        return "counter"
    return None


def require(key: str) -> None:
    """The first thing a flow's start screen does: when feature ``key`` cannot be used here
    and now (:func:`blocked_by`), the resident goes to the screen that says why and where
    to go instead."""
    feature = next(f for f in FEATURES if f.key == key)
    settings = current_app.config["SETTINGS"]
    if blocked_by(feature, snapshot(), today(settings.hours, current_app.config["CLOCK"]()).open_now) is not None:
        leave(url_for("home.service", key=key))


def template_context() -> dict[str, object]:
    settings = current_app.config["SETTINGS"]
    snap = snapshot()
    now = current_app.config["CLOCK"]()
    day = today(settings.hours, now)
    elder = bool(session.get("elder"))
    # Babel calls zh_CN "zh_Hans_CN"; the kiosk's own codes are the configured ones.
    lang = "zh_CN" if str(get_locale() or "zh").startswith("zh") else "en"
    return {
        "settings": settings,
        "status": snap,
        "disk_full": _disk_full(),
        "announcement": getattr(current_app.extensions.get("hall_status"), "announcement", ""),
        "hall_open": day.open_now,
        "hall_today": day,
        "elder": elder,
        "lang": lang,
        "html_lang": "zh-CN" if lang.startswith("zh") else "en",
        "touch_px": settings.panel.touch_px(20),
        "key_px": settings.panel.touch_px(15),
        "hall_time": local_now(settings.hours, now),
        "features": FEATURES,
        "blocked_by": lambda f: blocked_by(f, snap, day.open_now),
        "voice_url": _voice_url if settings.voice else (lambda *parts: None),
    }


def _disk_full() -> bool:
    """True while the kiosk's own disk is full: its screens show staff a banner (residents
    can still do everything that the edge stores for them)."""
    watch = current_app.extensions.get("disk")
    return watch is not None and watch.state().full


def _voice_url(*parts: object) -> str | None:
    """The URL of the spoken form of ``parts`` (screen title, instruction), in elder mode."""
    if not session.get("elder"):
        return None
    text = "。".join(str(p) for p in parts if p)
    lang = "zh" if str(get_locale() or "zh").startswith("zh") else "en"
    key = current_app.extensions["voice"].register(text, lang)
    return url_for("voice.phrase", key=key)
