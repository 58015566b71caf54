"""``GET /metrics``: the edge agent's Prometheus metrics (see :mod:`edge_agent.metrics`).

No login: Prometheus scrapes it without a session. That is acceptable because the page
carries no personal data at all: only counts, device and node ids, alarm severities and
states, printer paper levels, environment readings and the outbox backlog; never a
resident's name, phone, room, complaint or payment. Keep it that way when adding a metric.

It is served by the staff console's own server (``[http]`` of the edge configuration), so it
binds nothing the console does not already bind; no second port is opened.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST

from hall_common.web import get_db

from .console_services import services
from .metrics import EdgeMetrics

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    """Read now, from the agent's live objects and the request's own database connection.
    Without the agent (a console run alone), what the database holds is still reported."""
    source = services().metrics or EdgeMetrics()
    body = source.render(get_db(), stale_after=current_app.config["STALE_AFTER"], syncs=current_app.config["SYNCS"])
    return Response(body, mimetype=None, content_type=CONTENT_TYPE_LATEST)
