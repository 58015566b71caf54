"""How the staff console's views reach the agent's live services: :func:`services` for a
page that shows something else when one is absent, :func:`require` for a page that cannot
work without it (it answers a clear 503 page instead). The services are kept at
``app.extensions["edge"]`` (an :class:`~edge_agent.services.EdgeServices`), never in
``app.config``, which holds plain settings only."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, current_app, make_response, render_template

from .services import EdgeServices

KEY = "edge"

WHAT = {
    "printing": ("打印服务", "print service"),
    "queue": ("排队叫号服务", "queue service"),
    "complaints": ("报事投诉服务", "request and complaint service"),
    "alarms": ("告警服务", "alarm service"),
    "payments": ("缴费服务", "payment service"),
    "refunds": ("退款服务", "refund service"),
    "aed": ("AED 监测", "AED monitor"),
    "first_aid": ("急救箱管理", "first-aid service"),
    "environment": ("环境监测", "environment monitor"),
    "retention": ("个人信息管理", "personal data service"),
    "registers": ("登记簿服务", "register service"),
    "metrics": ("运行指标", "metrics"),
    "handover": ("交接班服务", "shift handover service"),
}
"""Each service (every name in :data:`edge_agent.services.NAMES`) as staff call it, in
Chinese and English, for the 503 page."""


def init_app(app: Flask, services: EdgeServices | None) -> None:
    app.extensions[KEY] = services if services is not None else EdgeServices()


def services() -> EdgeServices:
    """The current console's services; any of them may be ``None``."""
    found: EdgeServices = current_app.extensions[KEY]
    return found


def require(name: str) -> Any:
    """The service ``name`` (a field of :class:`EdgeServices`), or a 503 page that says, in
    Chinese and English, that it is not running: better than a stack trace for staff, and
    the same answer for every page that needs it."""
    service = getattr(services(), name)
    if service is None:
        zh, en = WHAT[name]
        page = render_template("console/unavailable.html", zh=zh, en=en)
        abort(make_response(page, 503, {"Retry-After": "30"}))
    return service
