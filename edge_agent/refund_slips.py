"""The hall's refunds at the counter: which of its payments the centre is giving back, and a
slip for the resident.

Refunds are decided at the centre (a person in the admin console, or the automatic refund of
a bill paid with both wallets); the hall learns of them by asking the centre
(``GET /api/v1/payments/refunds``, the hall's credential, the last :data:`DAYS` days) each
time the staff console's refunds page opens, and keeps a copy in ``edge.db``
(``payment_refunds``), so the page still shows what it knew while the centre is out of reach.
Staff print a **refund slip** (``refund_slip`` template, staff only) at a chosen printer: the
room, the payment's wallet and reference, the refund's number, amount, reason and state, and
the bill lines it gives back (owed again once the refund is confirmed). The first print is
an original, any later one a reprint (marked 重打 REPRINT).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

from hall_common.bus import contract
from hall_common.errors import RequestFailed
from hall_common.storage import open_database

from .centre_api import CentreAPI
from .component import Component

log = logging.getLogger(__name__)
DAYS = 31
WALLETS = {"alipay": "支付宝", "wechat": "微信支付", "sandbox": "微信支付"}
STATES = {"requested": ("退款处理中", "Refund in progress: the money is on its way back"),
          "confirmed": ("已退款", "Refunded: the money is back with the payer"),
          "failed": ("退款未成功，请到服务台", "Refund failed: please see the front desk")}


class RefundSlips(Component):
    """The hall's copy of its refunds and their slips (``services.refunds`` on the console);
    no bus routes: the console asks it directly, and it asks the centre."""

    name = "refunds"

    def __init__(self, *, db_path: Any, centre: CentreAPI, printing: Any, timezone: str = "Asia/Shanghai",
                 clock: Callable[[], float] = time.time) -> None:
        self.db = open_database(db_path, shared_thread=True)
        self.centre, self.printing, self.clock = centre, printing, clock
        self.zone = ZoneInfo(timezone)
        self._lock = threading.RLock()

    def refresh(self) -> bool:
        """Ask the centre for the hall's refunds and keep them; False when it cannot be
        reached (the page shows what it knew, and says so)."""
        try:
            answer = self.centre.call("GET", f"/api/v1/payments/refunds?days={DAYS}", what="refunds")
        except RequestFailed as exc:
            log.warning("the hall's refunds could not be had from the centre (%s); showing the last known", exc.code)
            return False
        now = self.clock()
        with self._lock:
            for r in answer.get("refunds") or []:
                try:
                    row = {"id": str(r["id"]), "order_id": str(r["order_id"]), "out_refund_no": str(r["out_refund_no"]),
                           "out_trade_no": str(r["out_trade_no"]), "provider": str(r["provider"]), "room": str(r["room"]),
                           "amount_fen": int(r["amount_fen"]), "order_fen": int(r["order_fen"]), "reason": str(r["reason"]),
                           "status": str(r["status"]), "automatic": 1 if r.get("automatic") else 0,
                           "requested_at": float(r["requested_at"]),
                           "confirmed_at": None if r.get("confirmed_at") is None else float(r["confirmed_at"]),
                           "paid_at": None if r.get("paid_at") is None else float(r["paid_at"]),
                           "lines_json": json.dumps([{"item": str(x["item"]), "period": str(x.get("period", "")),
                                                      "amount_fen": int(x["amount_fen"])} for x in r.get("lines") or []],
                                                    ensure_ascii=False), "updated_at": now}
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("a refund from the centre could not be read (%s): skipped", exc)
                    continue
                known = next(self.db.query("SELECT slip_job FROM payment_refunds WHERE id = ?", [row["id"]]), None)
                self.db["payment_refunds"].insert({**row, "slip_job": known["slip_job"] if known else None}, replace=True)
        return True

    def recent(self, *, days: float = DAYS) -> list[dict[str, Any]]:
        since = self.clock() - days * 86400
        with self._lock:
            return list(self.db.query("SELECT * FROM payment_refunds WHERE requested_at >= ? ORDER BY requested_at DESC",
                                      [since]))

    def slip_fields(self, row: dict[str, Any]) -> dict[str, Any]:
        zh, en = STATES.get(row["status"], (row["status"], row["status"]))
        items = [{"name": x["item"][:32], "period": x["period"][:32], "amount_fen": x["amount_fen"]}
                 for x in json.loads(row["lines_json"])]
        fields: dict[str, Any] = {
            "room": row["room"] or "—", "wallet": WALLETS.get(row["provider"], row["provider"]),
            "reference": row["out_trade_no"], "refund_no": row["out_refund_no"], "paid_fen": row["order_fen"],
            "refund_fen": row["amount_fen"], "reason": "重复支付，自动退回" if row["automatic"] else row["reason"],
            "status": zh, "status_en": en, "asked_at": self._time(row["requested_at"]), "items": items}
        if items and row["status"] != "failed":
            fields["reopened"] = "以上项目退款后恢复为待缴，请重新缴纳"
        return fields

    def print_slip(self, refund_id: str, printer: str) -> dict[str, Any]:
        """Print the refund's slip at ``printer``: the original, or a reprint of it."""
        with self._lock:
            row = next(self.db.query("SELECT * FROM payment_refunds WHERE id = ?", [refund_id]), None)
            if row is None:
                raise RequestFailed("not_found", f"no refund {refund_id}")
            earlier = self.printing.view(row["slip_job"]) if row["slip_job"] else None
            if earlier is not None and earlier["status"] != "failed":
                return self.printing.reprint(row["slip_job"], printer=printer)
            job = str(uuid.uuid4())
            view = self.printing.submit(job, contract.EDGE_NODE, "refund_slip", self.slip_fields(row), preferred=printer)
            self.db["payment_refunds"].update(refund_id, {"slip_job": job, "updated_at": self.clock()})
            return view

    def _time(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.zone).strftime("%Y-%m-%d %H:%M")

    def close(self) -> None:
        with self._lock:
            self.db.close()
