"""Alipay's side of the sandbox: a gateway that speaks Alipay's open API shapes, for
``hall up`` and the tests (a demo centre only, like :mod:`.sandbox`).

The centre's real :class:`~.alipay.AlipayPay` (python-alipay-sdk) talks to it: requests come
form-encoded (``method=alipay.trade.precreate|query|close|refund``, ``biz_content`` JSON) and
RSA2-signed with the demo merchant's app key, which the gateway verifies; replies are
``{"alipay_trade_<x>_response": {...}, "sign": "..."}`` signed with the sandbox's own
"Alipay" key, which the SDK verifies. Both key pairs are made at first start in
``<data_dir>/payments-sandbox/alipay/`` (mode 600). The transport is in-process by default
(the centre need not know its own URL); ``/sandbox/alipay/gateway.do`` serves the same
function over HTTP. Paying on ``/sandbox/alipay/pay/<no>`` sends the asynchronous
notification, form-encoded and RSA2-signed as Alipay does (every field but ``sign`` and
``sign_type``, sorted), retried after 1 s and 3 s until answered ``success``.
Its trades live in memory: one centre process.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from alipay import AliPay
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hall_common.private_files import write_private

from .alipay import AlipayPay, china_time, fen_of, yuan
from .provider import NewOrder

log = logging.getLogger(__name__)
APP_ID = "2021000000000001"
SELLER_ID = "2088000000000001"
GATEWAY = "http://alipay-sandbox.invalid/gateway.do"
"""The in-process gateway's name (never resolved: the transport answers it)."""
BILLS = "http://alipay-sandbox.invalid/bills/"
"""Where the sandbox's bill download URLs point (answered in-process by :meth:`AlipaySandbox.bill_file`)."""


@dataclass(frozen=True)
class AlipayTrade:
    order: NewOrder
    state: str = "NOTPAY"  # NOTPAY | SUCCESS | CLOSED, the words the sandbox pay page shows
    transaction_id: str | None = None
    success_time: float | None = None
    refunds: dict[str, int] = field(default_factory=dict)  # out_request_no -> fen
    refunded_at: dict[str, float] = field(default_factory=dict)  # out_request_no -> when


def _pem_private(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _pem_public(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_or_create_keys(folder: Path) -> tuple[str, str]:
    """(the sandbox Alipay's private key, the demo merchant app's private key), PEM."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = []
    for name in ("alipay_key.pem", "app_key.pem"):
        path = folder / name
        if not path.exists():
            write_private(path, _pem_private(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        keys.append(path.read_text(encoding="utf-8"))
    return keys[0], keys[1]


def _public_of(pem: str) -> str:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return _pem_public(key)


def _post_form(url: str, body: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class LazyAlipay:
    """:class:`AlipayPay` for the sandbox, built on first call (its keys are made then)."""

    name = "alipay"

    def __init__(self, sandbox: "AlipaySandbox") -> None:
        self.sandbox, self.mchid, self.appid = sandbox, SELLER_ID, APP_ID

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.sandbox.real_provider, attr)


class AlipaySandbox:
    """The sandbox "Alipay": its gateway, its payer's page and its notifications."""

    def __init__(self, folder: Path, *, clock: Callable[[], float] = time.time,
                 retry_delays: tuple[float, ...] = (0.0, 1.0, 3.0)) -> None:
        self._folder, self._clock, self.retry_delays = folder, clock, retry_delays
        self.app_id, self.seller_id, self.mchid = APP_ID, SELLER_ID, SELLER_ID
        self._trades: dict[str, AlipayTrade] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.deliveries: list[tuple[str, int, bytes]] = []
        self.calls: list[tuple[str, str]] = []
        """(method, out_trade_no) of every believed gateway request, in order (for the tests)."""
        self.deliver_refunds = True
        """After a refund, post its notification (``refund_fee``, ``out_biz_no``) to the
        payment's notify URL, as Alipay does; tests without an HTTP server turn it off."""
        self.refund_deliveries: list[tuple[str, int, bytes]] = []

    @functools.cached_property
    def _keys(self) -> tuple[str, str]:
        return load_or_create_keys(self._folder)

    @property
    def folder(self) -> Path:
        return self._folder

    @property
    def app_private_key_pem(self) -> str:
        """The demo merchant app's private key (a demo's configuration would name this file)."""
        return self._keys[1]

    @property
    def alipay_public_key_pem(self) -> str:
        """The sandbox "Alipay"'s public key, which verifies its replies and notifications."""
        return _public_of(self._keys[0])

    def impostor(self, name: str = "impostor") -> "AlipaySandbox":
        """Another "Alipay" with its own keys that knows this one's trades: what a forger
        who saw a trade could sign (for the tests)."""
        other = AlipaySandbox(self._folder.parent / name, clock=self._clock)
        other._trades = self._trades
        return other

    @functools.cached_property
    def _side(self) -> AliPay:
        """The SDK used from Alipay's side: signs with the sandbox Alipay key, verifies the app's."""
        return AliPay(self.app_id, None, self._keys[0], _public_of(self._keys[1]), sign_type="RSA2")

    def provider(self) -> "LazyAlipay":
        """The centre's real Alipay provider, with the demo merchant's keys, talking to this;
        made on first use, not at start (the keys take a moment; most centres never pay)."""
        return LazyAlipay(self)

    @functools.cached_property
    def real_provider(self) -> AlipayPay:
        return AlipayPay(app_id=self.app_id, seller_id=self.seller_id, app_private_key_pem=self.app_private_key_pem,
                         alipay_public_key_pem=self.alipay_public_key_pem, gateway=GATEWAY,
                         transport=lambda url: self.gateway(urllib.parse.urlsplit(url).query), clock=self._clock,
                         fetch=self.bill_file)

    def trade(self, out_trade_no: str) -> AlipayTrade | None:
        with self._lock:
            return self._trades.get(out_trade_no)

    # -- the gateway --

    def _reply(self, method: str, content: dict[str, Any]) -> str:
        inner = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        key = method.replace(".", "_") + "_response"
        return f'{{"{key}":{inner},"sign":"{self._side._sign(inner)}"}}'

    @staticmethod
    def _failed(sub_code: str, sub_msg: str) -> dict[str, Any]:
        return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}

    def gateway(self, query: str) -> str:
        """One gateway request (the signed form, as a query string) → the reply's text."""
        fields = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        signature = fields.pop("sign", "")
        message = "&".join(f"{k}={v}" for k, v in sorted(fields.items()))
        method = fields.get("method", "")
        try:
            good = bool(signature) and fields.get("sign_type") == "RSA2" and self._side._verify(message, signature)
        except (ValueError, TypeError):
            good = False
        if not good or fields.get("app_id") != self.app_id:
            bad = {"code": "40002", "msg": "Invalid Arguments",
                   "sub_code": "isv.invalid-signature" if not good else "isv.invalid-app-id"}
            return json.dumps({"error_response": bad})  # Alipay leaves these unsigned
        try:
            biz = json.loads(fields.get("biz_content") or "{}")
        except ValueError:
            biz = {}
        handler = {"alipay.trade.precreate": self._precreate, "alipay.trade.query": self._query,
                   "alipay.trade.close": self._close, "alipay.trade.refund": self._refund,
                   "alipay.data.dataservice.bill.downloadurl.query": self._bill_url}.get(method)
        if handler is None:
            return json.dumps({"error_response": {"code": "40002", "msg": "Invalid Arguments",
                                                  "sub_code": "isv.invalid-method"}})
        with self._lock:
            self.calls.append((method, str(biz.get("out_trade_no", ""))))
            content = handler(biz, fields)
        return self._reply(method, content)

    def _precreate(self, biz: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
        no, fen = str(biz.get("out_trade_no", "")), fen_of(biz.get("total_amount"))
        if not no or fen is None or fen <= 0:
            return self._failed("ACQ.INVALID_PARAMETER", "参数无效")
        t = self._trades.get(no)
        if t is not None and t.state != "NOTPAY":
            return self._failed("ACQ.TRADE_HAS_SUCCESS" if t.state == "SUCCESS" else "ACQ.TRADE_HAS_CLOSE", "交易状态不合法")
        notify = fields.get("notify_url", "")
        site = notify.split("/api/v1/payments/")[0]
        self._trades[no] = AlipayTrade(NewOrder(no, str(biz.get("subject", "")), fen, self._clock() + 7200, notify, site))
        return {"code": "10000", "msg": "Success", "out_trade_no": no, "qr_code": f"{site}/sandbox/alipay/pay/{no}"}

    def _query(self, biz: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
        t = self._trades.get(str(biz.get("out_trade_no", "")))
        if t is None:
            return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
        status = {"NOTPAY": "WAIT_BUYER_PAY", "SUCCESS": "TRADE_SUCCESS", "CLOSED": "TRADE_CLOSED"}[t.state]
        return {"code": "10000", "msg": "Success", "out_trade_no": t.order.out_trade_no, "trade_no": t.transaction_id or "",
                "trade_status": status, "total_amount": yuan(t.order.amount_fen)}

    def _close(self, biz: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
        no = str(biz.get("out_trade_no", ""))
        t = self._trades.get(no)
        if t is None:
            return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if t.state != "NOTPAY":  # paid, or closed already: Alipay says the same for both
            return self._failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        self._trades[no] = replace(t, state="CLOSED")
        return {"code": "10000", "msg": "Success", "out_trade_no": no, "trade_no": t.transaction_id or ""}

    def _refund(self, biz: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
        no, request_no = str(biz.get("out_trade_no", "")), str(biz.get("out_request_no") or biz.get("out_trade_no", ""))
        fen, t = fen_of(biz.get("refund_amount")), self._trades.get(no)
        if t is None:
            return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if t.state != "SUCCESS":
            return self._failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if fen is None or fen <= 0:
            return self._failed("ACQ.INVALID_PARAMETER", "参数无效")
        if request_no in t.refunds:  # the same refund asked again: answered, not repeated
            pass
        elif sum(t.refunds.values()) + fen > t.order.amount_fen:
            return self._failed("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        else:
            t = replace(t, refunds={**t.refunds, request_no: fen}, refunded_at={**t.refunded_at, request_no: self._clock()})
            self._trades[no] = t
            if self.deliver_refunds:
                threading.Thread(target=self._deliver_refund, args=(no, request_no), daemon=True,
                                 name=f"alipay-sandbox-refund-{request_no[-8:]}").start()
        return {"code": "10000", "msg": "Success", "out_trade_no": no, "trade_no": t.transaction_id,
                "refund_fee": yuan(sum(t.refunds.values())), "fund_change": "Y"}

    # -- the day's bill --

    def _bill_url(self, biz: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
        day = str(biz.get("bill_date", ""))
        try:
            datetime.strptime(day, "%Y-%m-%d")
        except ValueError:
            return self._failed("isv.invalid-bill-date", "账单日期格式不正确")
        if biz.get("bill_type") != "trade":
            return self._failed("isv.invalid-bill-type", "账单类型不正确")
        return {"code": "10000", "msg": "Success", "bill_download_url": f"{BILLS}{day}.zip?token={uuid.uuid4().hex}"}

    def bill_rows(self, day: str) -> list[Any]:
        """The trades paid here on ``day`` (China time), then the refunds made that day, as
        bill rows."""
        from .bills import BillRow

        with self._lock:
            paid = [t for t in self._trades.values() if t.state == "SUCCESS" and t.success_time is not None]
        rows = [BillRow(t.order.out_trade_no, "pay", t.order.amount_fen, t.transaction_id or "", china_time(t.success_time or 0))
                for t in sorted(paid, key=lambda t: t.success_time or 0.0) if china_time(t.success_time or 0)[:10] == day]
        refunds = sorted(((t.refunded_at.get(no, 0.0), t, no, fen) for t in paid for no, fen in t.refunds.items()),
                         key=lambda r: r[0])
        rows += [BillRow(t.order.out_trade_no, "refund", fen, t.transaction_id or "", china_time(at), out_refund_no=no)
                 for at, t, no, fen in refunds if china_time(at)[:10] == day]
        return rows

    def bill_file(self, url: str) -> bytes:
        """What the ``bill_download_url`` serves: the zip of GBK CSVs, as Alipay's is."""
        from .bills import alipay_bill_zip

        if not url.startswith(BILLS):
            raise OSError(f"{url[:80]}: not this sandbox's bill")
        day = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1].removesuffix(".zip")
        return alipay_bill_zip(self.bill_rows(day), seller_id=self.seller_id, day=day,
                               exported=china_time(self._clock()))

    def paid_trade(self, order: NewOrder, at: float) -> AlipayTrade:
        """A trade paid at ``at`` without the payer's page or a notification: for a test
        that fills a day with payments quickly."""
        t = AlipayTrade(order, "SUCCESS", "2026" + "22001" + uuid.uuid4().hex[:15], at)
        with self._lock:
            self._trades[order.out_trade_no] = t
        return t

    # -- the payer's side and the notifications --

    def pay(self, out_trade_no: str, *, deliver: bool = True) -> AlipayTrade:
        """The payer confirms in "Alipay": LookupError (unknown), PermissionError (closed)."""
        with self._lock:
            t = self._trades.get(out_trade_no)
            if t is None:
                raise LookupError(out_trade_no)
            if t.state == "CLOSED":
                raise PermissionError(out_trade_no)
            if t.state != "SUCCESS":
                t = replace(t, state="SUCCESS", transaction_id=time.strftime("%Y%m%d") + "22001" + uuid.uuid4().hex[:15],
                            success_time=self._clock())
                self._trades[out_trade_no] = t
        if deliver:
            threading.Thread(target=self._deliver, args=(t,), name=f"alipay-sandbox-notify-{out_trade_no}",
                             daemon=True).start()
        return t

    def sign_notification(self, fields: dict[str, str]) -> bytes:
        """The form body Alipay posts: RSA2 over every field but sign and sign_type, sorted."""
        signed = {k: v for k, v in fields.items() if k not in ("sign", "sign_type")}
        signature = self._side._sign("&".join(f"{k}={v}" for k, v in sorted(signed.items())))
        return urllib.parse.urlencode({**fields, "sign_type": "RSA2", "sign": signature}).encode()

    def notification(self, out_trade_no: str, /, **overrides: str) -> bytes:
        """The payment notification of a paid trade, as Alipay would post it now;
        ``overrides`` change fields before signing (forged amounts, merchants, times)."""
        t = self.trade(out_trade_no)
        if t is None or t.transaction_id is None:
            raise LookupError(f"{out_trade_no}: not paid")
        now, paid = self._clock(), t.success_time or self._clock()
        fields = {"notify_time": china_time(now), "notify_type": "trade_status_sync", "notify_id": uuid.uuid4().hex,
                  "charset": "utf-8", "version": "1.0", "app_id": self.app_id, "seller_id": self.seller_id,
                  "trade_no": t.transaction_id, "out_trade_no": out_trade_no, "trade_status": "TRADE_SUCCESS",
                  "total_amount": yuan(t.order.amount_fen), "receipt_amount": yuan(t.order.amount_fen),
                  "buyer_pay_amount": yuan(t.order.amount_fen), "subject": t.order.description,
                  "gmt_create": china_time(paid), "gmt_payment": china_time(paid), "buyer_logon_id": "san***@sandbox"}
        fields.update(overrides)
        return self.sign_notification(fields)

    def refund_notification(self, out_trade_no: str, out_request_no: str, /, **overrides: str) -> bytes:
        """The notification Alipay posts after a refund (``refund_fee``, ``out_biz_no``)."""
        t = self.trade(out_trade_no)
        if t is None or out_request_no not in t.refunds:
            raise LookupError(f"{out_trade_no}/{out_request_no}: no such refund")
        refunded = sum(t.refunds.values())
        fields = {"notify_time": china_time(self._clock()), "notify_type": "trade_status_sync",
                  "notify_id": uuid.uuid4().hex, "charset": "utf-8", "version": "1.0", "app_id": self.app_id,
                  "seller_id": self.seller_id, "trade_no": t.transaction_id or "", "out_trade_no": out_trade_no,
                  "out_biz_no": out_request_no, "refund_fee": yuan(refunded), "gmt_refund": china_time(self._clock()),
                  "trade_status": "TRADE_CLOSED" if refunded == t.order.amount_fen else "TRADE_SUCCESS",
                  "total_amount": yuan(t.order.amount_fen)}
        fields.update(overrides)
        return self.sign_notification(fields)

    def _deliver_refund(self, out_trade_no: str, out_request_no: str) -> None:
        t = self.trade(out_trade_no)
        if t is None:
            return
        for delay in self.retry_delays:
            if self._stop.wait(delay):
                return
            try:
                status, reply = _post_form(t.order.notify_url, self.refund_notification(out_trade_no, out_request_no))
            except OSError as exc:
                log.warning("alipay sandbox refund notification %s not delivered: %s", out_request_no, exc)
                continue
            with self._lock:
                self.refund_deliveries.append((out_request_no, status, reply))
            if status == 200 and reply.strip() == b"success":
                return
        log.error("alipay sandbox refund notification %s gave up", out_request_no)

    def _deliver(self, t: AlipayTrade) -> None:
        for delay in self.retry_delays:
            if self._stop.wait(delay):
                return
            try:
                status, reply = _post_form(t.order.notify_url, self.notification(t.order.out_trade_no))
            except OSError as exc:
                log.warning("alipay sandbox notification for %s not delivered: %s", t.order.out_trade_no, exc)
                continue
            with self._lock:
                self.deliveries.append((t.order.out_trade_no, status, reply))
            if status == 200 and reply.strip() == b"success":
                return
        log.error("alipay sandbox notification for %s gave up", t.order.out_trade_no)

    def close(self) -> None:
        self._stop.set()
