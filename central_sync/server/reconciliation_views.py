"""The reconciliation page (``/reconciliation/``) and its daily job, wired into the centre.

Everyone who may view sees the days and the differences of their own halls (a manager: only
the orders of their halls; a bill line the centre has no order for belongs to no hall and is
shown to those who see every hall). Running a day again is ``manage``: it asks the providers.
The banner (``admin/_reconciliation_alarm.html``) shows on the fleet page and here while the
newest run of a recent day found differences or failed: the centre's own alarm, beside the
halls' alarms the fleet view lists (those come from the halls; the centre has no alarm table).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Flask, current_app, flash, g, redirect, render_template, request, url_for

from hall_common.config import CentralConfig

from . import access
from .db import get_store
from .reconciliation import KINDS, REFUND_KINDS, DayRefused, ReconciliationJob, alarms, check_day, latest_runs, reconcile

bp = Blueprint("reconciliation", __name__, url_prefix="/reconciliation")


def _now() -> float:
    clock = current_app.config.get("PAYMENTS_CLOCK") or time.time
    return float(clock())


def _providers() -> dict[str, Any]:
    return dict(current_app.extensions["payments"].providers)


def _alarms() -> list[dict[str, Any]]:
    """For the banner: the days with differences in the user's halls, or failed runs."""
    if "reconciliation_alarms" not in g:
        g.reconciliation_alarms = alarms(get_store(), access.hall_clause("hall_id"), now=_now())
    return g.reconciliation_alarms


@bp.get("/")
@access.require("view")
def index():
    store = get_store()
    runs = latest_runs(store)
    day, error = request.args.get("day", ""), None
    if day:
        try:
            day = check_day(day, now=_now()) if day not in {r["day"] for r in runs} else day
        except DayRefused as exc:
            error, day = exc.detail, ""
    day = day or (runs[0]["day"] if runs else "")
    run = next((r for r in runs if r["day"] == day), None)
    where, args = access.hall_clause("hall_id")
    dwhere, dargs = access.hall_clause("d.hall_id")
    totals, diffs, refund_diffs = [], [], []
    if run is not None:
        totals = store.query(f"SELECT provider, sum(bill_count) AS bill_count, sum(bill_fen) AS bill_fen, "
                             f"sum(centre_count) AS centre_count, sum(centre_fen) AS centre_fen, sum(refund_count) AS "
                             f"refund_count, sum(refund_fen) AS refund_fen FROM reconciliation_totals WHERE run_id = ? "
                             f"AND {where} GROUP BY provider ORDER BY provider", (run["id"], *args))
        diffs = store.query(f"SELECT d.*, h.name AS hall_name FROM reconciliation_differences d LEFT JOIN halls h "
                            f"ON h.hall_id = d.hall_id WHERE d.run_id = ? AND {dwhere} "
                            f"ORDER BY d.provider, d.kind, d.out_trade_no LIMIT 1000", (run["id"], *dargs))
        refund_diffs = store.query(f"SELECT d.*, h.name AS hall_name FROM reconciliation_refund_differences d LEFT JOIN "
                                   f"halls h ON h.hall_id = d.hall_id WHERE d.run_id = ? AND {dwhere} "
                                   f"ORDER BY d.provider, d.kind, d.out_refund_no LIMIT 1000", (run["id"], *dargs))
    page = render_template("admin/reconciliation.html", runs=runs, run=run, day=day, totals=totals, diffs=diffs,
                           refund_diffs=refund_diffs, kinds={**KINDS, **REFUND_KINDS}, error=error, wallets=WALLETS)
    return (page, 400) if error else page


@bp.post("/run")
@access.require("manage")
def run():
    """An admin runs a day again (a bill that came late, a difference put right)."""
    try:
        day = check_day(request.form.get("day", ""), now=_now())
    except DayRefused as exc:
        flash(exc.detail + "；未对账 · nothing was run")
        return redirect(url_for("reconciliation.index")), 303
    reconcile(get_store(), _providers(), day, now=_now(), by=str(g.get("user")))
    return redirect(url_for("reconciliation.index", day=day)), 303


WALLETS = {"sandbox": "微信支付（沙箱） · WeChat Pay (sandbox)", "wechat": "微信支付 · WeChat Pay",
           "alipay": "支付宝 · Alipay"}


def init_app(app: Flask, config: CentralConfig) -> None:
    """The page, the banner's helper for templates, and the daily job (unless the test
    configuration says ``RECONCILIATION_THREAD = False``)."""
    app.register_blueprint(bp)
    app.jinja_env.globals["reconciliation_alarms"] = _alarms
    job = app.extensions["reconciliation"] = ReconciliationJob(
        providers=lambda: dict(app.extensions["payments"].providers), database_url=config.database_url,
        pool=app.extensions.get("store_pool"), clock=app.config.get("PAYMENTS_CLOCK") or time.time)
    if app.config.get("RECONCILIATION_THREAD", True):
        job.start()
