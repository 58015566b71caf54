"""The payment endpoints: orders for halls (node token), notifications from the provider,
and the sandbox's pay page.

``POST /api/v1/payments/orders`` ``{room, bill_ids[, kiosk]}`` → ``{order_id, out_trade_no,
amount_fen, code_url, expires_at}``. A body that names an amount is refused: the centre
sums the lines. ``GET /api/v1/payments/orders/<id>?wait=N`` answers when the payment has an
outcome (``until=outcome``, the default) or when every code of it is final (``until=settled``),
or after N (0 ≤ N ≤ 25, else 422) seconds; the first order of a pair answers for the pair
(``outcome``, ``settled``, ``pair``: see :func:`.orders.payment_view`). ``POST /api/v1/payments/notify/<provider>`` answers WeChat's way:
``{"code": "SUCCESS"}`` (also for a duplicate), or a 4xx with ``{"code": "FAIL", "message"}``.
An order may be a second code for the same lines in another wallet (``beside``: the first
order's id; see :mod:`.refunds` for when both are paid); the answer lists the centre's
``wallets``. An order may name its wallet (``provider``: one the centre offers, else 409); Alipay's
notifications (``/notify/alipay``, a signed form) are answered with the text ``success``/``fail``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request

from hall_common.resident_qr import ROOM

from .. import credentials
from ..api import bearer_token, node_only, problem, refused
from ..db import get_store
from ..ingest import NodeIdentity
from ..refusal import Refused
from .orders import FINAL, UUID, accept_notification, create_order, order_row, payment_view, siblings_due, wait_final
from .provider import NotificationRefused
from .refunds import accept_refund_notification
from .service import current

log = logging.getLogger(__name__)
bp = Blueprint("payments", __name__, url_prefix="/api/v1/payments")
bp.register_error_handler(Refused, refused)
sandbox_bp = Blueprint("sandbox_pay", __name__, url_prefix="/sandbox")
MAX_WAIT_S = 25.0
UNTIL = {"outcome": lambda view: view["outcome"] in FINAL, "settled": lambda view: bool(view["settled"])}
"""What a long poll waits for: the resident's payment has an outcome (either code paid, or
all closed), or every code of it is final (the hall then learns of a second payment's refund)."""
ALLOWED = {"room", "bill_ids", "kiosk", "provider", "beside"}
WALLETS = ("sandbox", "wechat", "alipay")


@bp.post("/orders")
@node_only
def post_order(who: NodeIdentity):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return problem(422, "malformed", "send a JSON object with room and bill_ids")
    if any("amount" in key or key == "total" for key in body):
        return problem(422, "amount_not_accepted", "the centre sums the lines itself; do not send an amount")
    extra = sorted(set(body) - ALLOWED)
    if extra:
        return problem(422, "malformed", f"{extra[0]}: not a field of an order (room, bill_ids, kiosk, provider, beside)")
    room, ids, kiosk = body.get("room"), body.get("bill_ids"), body.get("kiosk", who.node_id)
    if (not isinstance(room, str) or not ROOM.match(room) or not isinstance(ids, list) or not isinstance(kiosk, str)
            or "\x00" in kiosk):  # PostgreSQL holds no NUL in text: it was a 500 once the lines were found
        return problem(422, "malformed", "room: building-unit-room; bill_ids: a list of bill line ids; "
                                         "kiosk: text without NUL characters")
    beside = body.get("beside")
    if beside is not None and (not isinstance(beside, str) or not UUID.match(beside)):
        return problem(422, "malformed", "beside: the id of the order this one is a second code for")
    pay = current()
    name = body.get("provider", pay.provider.name)
    if name not in WALLETS:
        return problem(422, "malformed", f"provider: one of {', '.join(WALLETS)}")
    wallet = pay.providers.get(name)
    if wallet is None:  # a wallet, not one this centre offers now
        return problem(409, "provider_not_offered", f"provider: this centre offers {', '.join(pay.providers)}")
    base = (pay.config.notify_base_url or request.host_url).rstrip("/")
    made = create_order(get_store(), wallet, hall=who.hall_id, room=room, bill_ids=ids, kiosk=kiosk[:64],
                        ttl_s=pay.config.order_ttl_s, notify_url=f"{base}/api/v1/payments/notify/{wallet.name}",
                        site_url=base, now=pay.clock(), beside=beside)
    return jsonify({**made, "wallets": list(pay.providers)}), 201


def _who_briefly() -> NodeIdentity | None:
    """The caller, looked up on a connection given back at once: a long poll must not hold
    one of the pool's few connections while it waits."""
    token = bearer_token()
    if token is None:
        return None
    with current().store() as store:
        return credentials.identify(store, token)


@bp.get("/orders/<order_id>")
@node_only(identify=_who_briefly)
def get_order(who: NodeIdentity, order_id: str):
    try:
        wait = float(request.args.get("wait", "0"))
    except ValueError:
        wait = math.nan
    if not 0.0 <= wait <= MAX_WAIT_S:  # also refuses nan, which never timed out: the poll spun until the order closed
        return problem(422, "malformed", "wait: seconds, from 0 to 25")
    until = request.args.get("until", "outcome")
    if until not in UNTIL:
        return problem(422, "malformed", "until: outcome (the payment is paid, or every code closed) or settled "
                                         "(every code final)")
    pay = current()

    def load() -> dict[str, Any] | None:
        with pay.store() as store:
            row = order_row(store, order_id)
            return None if row is None or row["hall_id"] != who.hall_id else payment_view(store, row)

    with pay.signals.watch(order_id) as event:
        found = wait_final(load, event, wait, stopping=pay.stopping, done=UNTIL[until])
    if found is None:
        return problem(404, "not_found", "no such order for this hall")
    return jsonify(found)


def _answer(provider: str, ok: bool, reason: str = "", status: int = 200):
    """WeChat's JSON answer, or Alipay's bare ``success`` (anything else and it retries)."""
    if provider == "alipay":
        return ("success" if ok else "fail"), status, {"Content-Type": "text/plain; charset=utf-8"}
    return (jsonify(code="SUCCESS", message="成功") if ok else jsonify(code="FAIL", message=reason)), status


@bp.post("/notify/<provider>")
def notify(provider: str):
    pay = current()
    wallet = pay.providers.get(provider)
    if wallet is None:
        return jsonify(code="FAIL", message="unknown provider"), 404
    try:
        order, outcome = accept_notification(get_store(), wallet, request.headers, request.get_data(), now=pay.clock())
    except NotificationRefused as exc:
        if exc.reason == "refund_notification":  # verified news of a refund we asked for: it pays nothing
            log.info("refund notification from %s: %s", provider, exc.detail)
            return refund_notify(provider)
        log.warning("payment notification refused (%s): %s; from %s", exc.reason, exc.detail, request.remote_addr)
        return _answer(provider, False, exc.reason, exc.status)
    if outcome == "unchanged":
        log.info("payment notification for order %s again: already recorded, nothing changed", order["id"])
    else:
        log.info("payment order %s: %s (notification)", order["id"], outcome)
        pay.signals.fire(order["id"], order.get("pair_of"))
        if outcome in ("paid", "paid_conflict") and siblings_due(get_store(), order):
            pay.sweep_soon()  # the pair's other code stops taking money now, not at expiry
    return _answer(provider, True)


@bp.post("/refund-notify/<provider>")
def refund_notify(provider: str):
    """A provider's refund notification (WeChat's ``REFUND.*`` to the ``notify_url`` each
    refund is asked with; Alipay's come to ``/notify/alipay`` and are handed here): believed
    only when verified (:func:`.refunds.accept_refund_notification`), then the refund is
    confirmed and its lines reopened. A forged one changes nothing."""
    pay = current()
    wallet = pay.providers.get(provider)
    if wallet is None:
        return jsonify(code="FAIL", message="unknown provider"), 404
    try:
        refund, status = accept_refund_notification(get_store(), wallet, request.headers, request.get_data(),
                                                    now=pay.clock())
    except NotificationRefused as exc:
        log.warning("refund notification refused (%s): %s; from %s", exc.reason, exc.detail, request.remote_addr)
        return _answer(provider, False, exc.reason, exc.status)
    if refund is not None:
        log.info("refund %s of order %s: %s (notification)", refund["out_refund_no"], refund["order_id"], status)
    return _answer(provider, True)


REFUND_DAYS = 31


@bp.get("/refunds")
@node_only
def hall_refunds(who: NodeIdentity):
    """The refunds of the caller's hall asked for in the last ``days`` (at most 31): what the
    hall's counter shows and prints a slip for. Each with its order's room, reference and
    wallet, the amount, the reason, the status, and the lines it gives back."""
    try:
        days = float(request.args.get("days", "7"))
    except ValueError:
        days = math.nan
    if not 0 < days <= REFUND_DAYS:
        return problem(422, "malformed", f"days: more than 0, at most {REFUND_DAYS}")
    since = current().clock() - days * 86400
    store = get_store()
    rows = store.query("SELECT r.id, r.order_id, r.provider, r.out_refund_no, r.amount_fen, r.reason, r.status, "
                       "r.requested_at, r.confirmed_at, r.requested_by, o.room, o.out_trade_no, o.amount_fen AS order_fen, "
                       "o.paid_at FROM payment_refunds r JOIN payment_orders o ON o.id = r.order_id "
                       "WHERE o.hall_id = ? AND r.requested_at >= ? ORDER BY r.requested_at DESC LIMIT 500",
                       (who.hall_id, since))
    lines: dict[str, list[dict[str, Any]]] = {}
    if rows:
        marks = ", ".join("?" * len(rows))
        for line in store.query(f"SELECT rl.refund_id, l.item, l.period, rl.amount_fen FROM payment_refund_lines rl "
                                f"JOIN bill_lines l ON l.id = rl.line_id WHERE rl.refund_id IN ({marks}) "
                                f"ORDER BY l.due_date, l.item", [r["id"] for r in rows]):
            lines.setdefault(line["refund_id"], []).append({"item": line["item"], "period": line["period"],
                                                            "amount_fen": int(line["amount_fen"])})
    return jsonify({"refunds": [{
        "id": r["id"], "order_id": r["order_id"], "provider": r["provider"], "out_refund_no": r["out_refund_no"],
        "out_trade_no": r["out_trade_no"], "room": r["room"], "amount_fen": int(r["amount_fen"]),
        "order_fen": int(r["order_fen"]), "reason": r["reason"], "status": r["status"], "requested_at": r["requested_at"],
        "confirmed_at": r["confirmed_at"], "paid_at": r["paid_at"], "automatic": r["requested_by"] is None,
        "lines": lines.get(r["id"], [])} for r in rows]})


@sandbox_bp.get("/pay/")
def sandbox_waiting():
    """The sandbox's open trades, each linked to its pay page: with ``hall up`` on one
    machine, this stands in for pointing a phone at the kiosk's QR code."""
    sandbox = current().provider
    trades = [(t, f"{t.order.amount_fen // 100}.{t.order.amount_fen % 100:02d}") for t in sandbox.waiting()]  # type: ignore[attr-defined]
    return render_template("payments/sandbox_list.html", trades=trades, merchant=sandbox.mchid)  # type: ignore[attr-defined]


@sandbox_bp.route("/pay/<out_trade_no>", methods=["GET", "POST"])
def sandbox_pay(out_trade_no: str):
    """The sandbox's stand-in for WeChat's payment sheet, on the payer's phone."""
    sandbox = current().provider
    trade = sandbox.trade(out_trade_no)  # type: ignore[attr-defined]
    if trade is None:
        abort(404)
    outcome = None
    if request.method == "POST":
        try:
            trade = sandbox.pay(out_trade_no)  # type: ignore[attr-defined]
            outcome = "paid"
        except PermissionError:
            outcome = "closed"
    return render_template("payments/sandbox_pay.html", trade=trade, outcome=outcome,
                           yuan=f"{trade.order.amount_fen // 100}.{trade.order.amount_fen % 100:02d}",
                           merchant=sandbox.mchid)  # type: ignore[attr-defined]


def _alipay_sandbox() -> Any:
    found = [s for s in current().sandboxes if hasattr(s, "gateway")]
    if not found:
        abort(404)
    return found[0]


@sandbox_bp.route("/alipay/gateway.do", methods=["GET", "POST"])
def sandbox_alipay_gateway():
    """The sandbox's Alipay open API gateway over HTTP (the centre's own AlipayPay uses it
    in-process; this is the same function, for a person or a tool)."""
    query = request.query_string.decode() or request.get_data(as_text=True)
    return _alipay_sandbox().gateway(query), 200, {"Content-Type": "application/json; charset=utf-8"}


@sandbox_bp.route("/alipay/pay/<out_trade_no>", methods=["GET", "POST"])
def sandbox_alipay_pay(out_trade_no: str):
    """The sandbox's stand-in for Alipay's payment sheet, on the payer's phone."""
    sandbox = _alipay_sandbox()
    trade = sandbox.trade(out_trade_no)
    if trade is None:
        abort(404)
    outcome = None
    if request.method == "POST":
        try:
            trade = sandbox.pay(out_trade_no)
            outcome = "paid"
        except PermissionError:
            outcome = "closed"
    return render_template("payments/sandbox_pay.html", trade=trade, outcome=outcome,
                           yuan=f"{trade.order.amount_fen // 100}.{trade.order.amount_fen % 100:02d}",
                           merchant=f"{sandbox.seller_id}（支付宝 Alipay）", wallet="alipay")
