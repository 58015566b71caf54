"""Day-end reconciliation: each payment provider's bill of a day against the centre's payments.

Money the centre believes it took and money the providers say they took must agree, order by
order (``out_trade_no``). For a day (China time, the providers' bill day) this downloads every
provider's bill (:meth:`~.payments.provider.Provider.download_bill`), and lists:

- ``missing_at_centre``: the bill has the order paid, the centre does not (a notification lost
  and never queried, or a row gone);
- ``missing_at_provider``: the centre has it paid that day, the bill does not;
- ``amount_differs``: both have it, for different amounts.

A bill payment whose order the centre recorded paid on the day before or after (the
notification crossed midnight) is matched, not a difference. Refunds are counted and summed
per provider, and matched one by one by their own number (``out_refund_no``) against the
centre's confirmed refunds (``payment_refunds``, :func:`compare_refunds`): a refund in the bill
the centre has not confirmed, a refund the centre confirmed that day missing from the bill,
or different amounts. Each run, its per-provider and per-hall counts and its differences are
stored (migrations ``022_reconciliation``, ``023_person_refunds``); the newest run of a day is
the one the page and the alarm go by.

:class:`ReconciliationJob` runs yesterday's once a day, after :data:`READY_HOUR` China time
(WeChat Pay publishes the day's bill from 10:00 the next day, Alipay from 09:00).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from central_sync.store import Store

from .daily import start_daily
from .db import borrowed
from .payments.provider import PaymentError, Provider
from .refusal import Refused

log = logging.getLogger(__name__)
CHINA = timezone(timedelta(hours=8))
READY_HOUR = 10
KEEP_DAYS = 90
"""How far back a day may be asked for: WeChat Pay keeps trade bills three months."""
KINDS = {"missing_at_centre": "中心无此笔 · missing at the centre",
         "missing_at_provider": "账单无此笔 · missing from the provider's bill",
         "amount_differs": "金额不符 · amount differs"}
REFUND_KINDS = {"refund_missing_at_centre": "退款：中心未确认此笔 · refund not confirmed at the centre",
                "refund_missing_at_provider": "退款：账单无此笔 · refund missing from the provider's bill",
                "refund_amount_differs": "退款金额不符 · refund amount differs"}
PAID = ("paid", "paid_conflict")


class DayRefused(Refused):
    """A day that cannot be reconciled; the message is bilingual, for the page."""


def china_day(ts: float) -> date:
    return datetime.fromtimestamp(ts, CHINA).date()


def day_bounds(day: str) -> tuple[float, float]:
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=CHINA)
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def check_day(text: str, *, now: float) -> str:
    """``text`` as a day that has a bill (``YYYY-MM-DD``, before today in China, at most
    :data:`KEEP_DAYS` ago), or :class:`DayRefused` saying why in both languages."""
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise DayRefused("day", 400, f"日期应为 年-月-日，例如 2026-12-05 · The day must be YYYY-MM-DD, e.g. 2026-12-05 "
                                     f"(not {text[:20]!r})") from None
    today = china_day(now)
    if day >= today:
        raise DayRefused("day", 400, "只能对账今天以前的日子（账单次日才有） · Only a day before today can be reconciled "
                                     "(a day's bill exists from the next morning)")
    if day < today - timedelta(days=KEEP_DAYS):
        raise DayRefused("day", 400, f"只能对账最近 {KEEP_DAYS} 天 · Only the last {KEEP_DAYS} days can be reconciled")
    return day.isoformat()


def _chunks(items: list[str], n: int = 400) -> list[list[str]]:
    return [items[i:i + n] for i in range(0, len(items), n)]


@dataclass
class _Tally:
    bill_count: int = 0
    bill_fen: int = 0
    centre_count: int = 0
    centre_fen: int = 0
    refund_count: int = 0
    refund_fen: int = 0


def _orders_by_no(store: Store, provider: str, nos: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(nos):
        marks = ", ".join("?" * len(chunk))
        for r in store.query(f"SELECT id, hall_id, out_trade_no, amount_fen, status FROM payment_orders "
                             f"WHERE provider = ? AND out_trade_no IN ({marks})", (provider, *chunk)):
            found[r["out_trade_no"]] = r
    return found


def compare(store: Store, provider: str, bill: list[Any], day: str
            ) -> tuple[dict[str, _Tally], list[tuple[str, str, str, str | None, int | None, int | None]]]:
    """The per-hall tallies and the differences (out_trade_no, kind, hall, order id, bill fen,
    centre fen) of one provider's ``bill`` against the centre's payments of ``day``."""
    start, end = day_bounds(day)
    centre = {r["out_trade_no"]: r for r in store.query(
        "SELECT id, hall_id, out_trade_no, amount_fen, status FROM payment_orders WHERE provider = ? "
        "AND status IN ('paid', 'paid_conflict') AND paid_at >= ? AND paid_at < ?", (provider, start, end))}
    pays = {r.out_trade_no: r for r in bill if r.kind == "pay"}
    refunds = [r for r in bill if r.kind == "refund"]
    elsewhere = _orders_by_no(store, provider, sorted({no for no in pays if no not in centre}
                                                      | {r.out_trade_no for r in refunds if r.out_trade_no not in centre}))
    tallies: dict[str, _Tally] = {}
    diffs: list[tuple[str, str, str, str | None, int | None, int | None]] = []

    def tally(hall: str) -> _Tally:
        return tallies.setdefault(hall, _Tally())

    for no, row in centre.items():
        t = tally(row["hall_id"])
        t.centre_count += 1
        t.centre_fen += int(row["amount_fen"])
    for no, b in pays.items():
        order = centre.get(no) or elsewhere.get(no)
        hall = order["hall_id"] if order else ""
        t = tally(hall)
        t.bill_count += 1
        t.bill_fen += b.amount_fen
        if order is None or order["status"] not in PAID:
            diffs.append((no, "missing_at_centre", hall, order["id"] if order else None, b.amount_fen,
                          int(order["amount_fen"]) if order else None))
        elif b.amount_fen != int(order["amount_fen"]):
            diffs.append((no, "amount_differs", hall, order["id"], b.amount_fen, int(order["amount_fen"])))
    for no, row in centre.items():
        if no not in pays:
            diffs.append((no, "missing_at_provider", row["hall_id"], row["id"], None, int(row["amount_fen"])))
    for r in refunds:
        order = centre.get(r.out_trade_no) or elsewhere.get(r.out_trade_no)
        t = tally(order["hall_id"] if order else "")
        t.refund_count += 1
        t.refund_fen += r.amount_fen
    return tallies, diffs


RefundDiff = tuple[str, str, str, str, str | None, int | None, int | None]
"""out_refund_no, out_trade_no, kind, hall, refund id, bill fen, centre fen."""


def compare_refunds(store: Store, provider: str, bill: list[Any], day: str) -> list[RefundDiff]:
    """The refund differences of one provider's ``bill`` against the refunds the centre
    confirmed on ``day``. A bill refund the centre confirmed on the day before or after is
    matched (its notification crossed midnight)."""
    start, end = day_bounds(day)
    centre = {r["out_refund_no"]: r for r in store.query(
        "SELECT r.id, r.out_refund_no, r.amount_fen, o.out_trade_no, o.hall_id FROM payment_refunds r "
        "JOIN payment_orders o ON o.id = r.order_id WHERE r.provider = ? AND r.status = 'confirmed' "
        "AND r.confirmed_at >= ? AND r.confirmed_at < ?", (provider, start - 86400, end + 86400))}
    diffs: list[RefundDiff] = []
    billed = {r.out_refund_no: r for r in bill if r.kind == "refund" and r.out_refund_no}
    for no, b in billed.items():
        mine = centre.get(no)
        if mine is None:
            known = store.query("SELECT r.id, o.hall_id FROM payment_refunds r JOIN payment_orders o ON o.id = r.order_id "
                                "WHERE r.out_refund_no = ?", (no,))
            diffs.append((no, b.out_trade_no, "refund_missing_at_centre", known[0]["hall_id"] if known else "",
                          known[0]["id"] if known else None, b.amount_fen, None))
        elif int(mine["amount_fen"]) != b.amount_fen:
            diffs.append((no, b.out_trade_no, "refund_amount_differs", mine["hall_id"], mine["id"], b.amount_fen,
                          int(mine["amount_fen"])))
    for r in store.query("SELECT r.id, r.out_refund_no, r.amount_fen, o.out_trade_no, o.hall_id FROM payment_refunds r "
                         "JOIN payment_orders o ON o.id = r.order_id WHERE r.provider = ? AND r.status = 'confirmed' "
                         "AND r.confirmed_at >= ? AND r.confirmed_at < ?", (provider, start, end)):
        if r["out_refund_no"] not in billed:
            diffs.append((r["out_refund_no"], r["out_trade_no"], "refund_missing_at_provider", r["hall_id"], r["id"], None,
                          int(r["amount_fen"])))
    return diffs


def reconcile(store: Store, providers: Mapping[str, Provider], day: str, *, now: float, by: str,
              auto: bool = False) -> str | None:
    """Reconcile ``day`` (checked by the caller) for every provider; store the run. Returns
    its id, or None when ``auto`` and the day's automatic run exists already (another worker)."""
    run_id = str(uuid.uuid4())
    inserted = store.execute(
        "INSERT INTO reconciliation_runs (id, day, started_at, started_by, status, auto_day) VALUES (?, ?, ?, ?, 'running', ?) "
        "ON CONFLICT (auto_day) DO NOTHING", (run_id, day, now, by, day if auto else None)).rowcount
    if not inserted:
        return None
    errors, found = [], 0
    for name, provider in providers.items():
        try:
            bill = provider.download_bill(day)
        except PaymentError as exc:
            log.error("reconciliation %s: %s's bill could not be had: %s", day, name, exc)
            errors.append(f"{name}: {str(exc)[:200]}")
            continue
        tallies, diffs = compare(store, name, bill, day)
        refund_diffs = compare_refunds(store, name, bill, day)
        with store.transaction():
            store.executemany("INSERT INTO reconciliation_totals (run_id, provider, hall_id, bill_count, bill_fen, centre_count, "
                              "centre_fen, refund_count, refund_fen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              [(run_id, name, hall, t.bill_count, t.bill_fen, t.centre_count, t.centre_fen, t.refund_count,
                                t.refund_fen) for hall, t in sorted(tallies.items())])
            store.executemany("INSERT INTO reconciliation_differences (run_id, provider, out_trade_no, kind, hall_id, order_id, "
                              "bill_fen, centre_fen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                              [(run_id, name, *d) for d in diffs])
            store.executemany("INSERT INTO reconciliation_refund_differences (run_id, provider, out_refund_no, out_trade_no, "
                              "kind, hall_id, refund_id, bill_fen, centre_fen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              [(run_id, name, *d) for d in refund_diffs])
        found += len(diffs) + len(refund_diffs)
        if diffs or refund_diffs:
            log.warning("reconciliation %s: %d difference(s) with %s's bill (%d of refunds)", day,
                        len(diffs) + len(refund_diffs), name, len(refund_diffs))
    store.execute("UPDATE reconciliation_runs SET status = ?, error = ?, differences = ?, finished_at = ? WHERE id = ?",
                  ("failed" if errors else "done", "; ".join(errors) or None, found, now, run_id))
    store.execute("INSERT INTO audit_log (ts, username, action, detail, hall_id) VALUES (?, ?, ?, ?, ?)",
                  (now, by, "reconciliation.run", json.dumps({"day": day, "run": run_id, "differences": found,
                                                              "errors": errors}, ensure_ascii=False, sort_keys=True), None))
    return run_id


def latest_runs(store: Store, *, limit: int = 30) -> list[dict[str, Any]]:
    """The newest run of each day, newest day first."""
    rows = store.query("SELECT * FROM reconciliation_runs ORDER BY day DESC, started_at DESC LIMIT ?", (limit * 5,))
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        out.setdefault(r["day"], r)
    return list(out.values())[:limit]


def alarms(store: Store, hall_where: tuple[str, list[str]], *, now: float, days: int = 14) -> list[dict[str, Any]]:
    """The days of the last ``days`` whose newest run found differences in the given halls
    (``hall_where`` from :func:`~.access.hall_clause` on ``hall_id``) or failed: what the
    fleet page's banner and the reconciliation page show until a run of that day is clean."""
    since = (china_day(now) - timedelta(days=days)).isoformat()
    where, args = hall_where
    out = []
    for run in latest_runs(store, limit=days + 1):
        if run["day"] < since:
            continue
        n = (store.scalar(f"SELECT count(*) FROM reconciliation_differences WHERE run_id = ? AND {where}", (run["id"], *args))
             + store.scalar(f"SELECT count(*) FROM reconciliation_refund_differences WHERE run_id = ? AND {where}",
                            (run["id"], *args)))
        if n or run["status"] == "failed":
            out.append({"day": run["day"], "differences": int(n or 0), "failed": run["status"] == "failed",
                        "error": run["error"]})
    return out


class ReconciliationJob:
    """Yesterday's reconciliation, once, in one API worker (``app.extensions["reconciliation"]``):
    a daemon thread looks every ``interval`` seconds and runs it after :data:`READY_HOUR` unless
    a worker did (``auto_day`` is unique). Held weakly by its thread, like the retention job."""

    def __init__(self, *, providers: Callable[[], Mapping[str, Provider]], database_url: str, pool: Any = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.providers, self.clock = providers, clock
        self._url, self._pool = database_url, pool
        self._stop = threading.Event()

    def run_yesterday(self) -> str | None:
        now = self.clock()
        if datetime.fromtimestamp(now, CHINA).hour < READY_HOUR:
            return None
        day = (china_day(now) - timedelta(days=1)).isoformat()
        with borrowed(self._url, self._pool) as store:
            if store.scalar("SELECT count(*) FROM reconciliation_runs WHERE auto_day = ?", (day,)):
                return None
            return reconcile(store, self.providers(), day, now=now, by="(daily)", auto=True)

    def start(self, interval: float = 900.0, first_after: float = 120.0) -> None:
        start_daily(self, ReconciliationJob.run_yesterday, self._stop, interval=interval, first_after=first_after,
                    name="reconciliation")

    def close(self) -> None:
        self._stop.set()

