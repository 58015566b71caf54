"""Alipay 当面付 (face-to-face, precreate: the resident scans our QR code) through the
maintained ``python-alipay-sdk`` (import name ``alipay``), which signs every request with
RSA2 (SHA256withRSA, the app's private key) and verifies every synchronous reply with
Alipay's public key.

What this module adds is what money depends on:

- :meth:`AlipayPay.verify_notification` believes an asynchronous notification (form-encoded,
  ``sign`` + ``sign_type=RSA2`` over the other fields sorted and joined ``k=v&...``) only if
  the signature verifies with Alipay's public key, ``notify_time`` is fresh
  (:data:`MAX_AGE_S`), ``app_id`` and ``seller_id`` are ours, ``total_amount`` parses as
  yuan. It hands the order logic (:mod:`.orders`) the same transaction shape the WeChat
  notification decrypts to, so both wallets share one set of rules there.
- Alipay's ``trade_status`` is mapped to WeChat's ``trade_state`` words (``TRADE_SUCCESS``
  and ``TRADE_FINISHED`` → ``SUCCESS``; ``WAIT_BUYER_PAY`` → ``NOTPAY``; ``TRADE_CLOSED`` →
  ``CLOSED``), the words :mod:`.orders` acts on.
- ``transport`` is the HTTP seam (the SDK's ``urlopen`` by default): the sandbox's gateway
  (:mod:`.sandbox_alipay`) answers in-process with the same signed strings, so the signing
  and the reply checks the tests exercise are the SDK's, as production runs them.

Nothing here has been tried against Alipay's real servers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl

from alipay import AliPay
from alipay.compat import urlopen
from alipay.exceptions import AliPayException, AliPayValidationError

from .bills import fen_of, parse_alipay_bill_zip, yuan
from .provider import NewOrder, NotificationRefused, OrderAlreadyPaid, ProviderUnavailable, Refund, Trade

MAX_AGE_S = 600
"""A notification whose ``notify_time`` (when that delivery was sent; each of Alipay's
retries carries its own) is more than this old, or more than :data:`MAX_AHEAD_S` ahead, is
refused as stale: a replay window. A payment whose notifications all go stale is still found
by the expiry sweep's query."""
MAX_AHEAD_S = 300
CHINA = timezone(timedelta(hours=8))
STATES = {"TRADE_SUCCESS": "SUCCESS", "TRADE_FINISHED": "SUCCESS", "WAIT_BUYER_PAY": "NOTPAY", "TRADE_CLOSED": "CLOSED"}
Transport = Callable[[str], str]
"""Given the full gateway URL with the signed query, the reply's text."""


def china_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, CHINA).strftime("%Y-%m-%d %H:%M:%S")


def parse_china_time(text: str) -> float | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA).timestamp()
    except (TypeError, ValueError):
        return None


def urllib_transport(url: str, *, timeout: float = 15.0) -> str:
    return urlopen(url, timeout=timeout).read().decode()


def urllib_fetch(url: str, *, timeout: float = 60.0) -> bytes:
    """A bill file (Alipay's download URL is signed in itself and valid for 30 s)."""
    return urlopen(url, timeout=timeout).read()


class _Sdk(AliPay):
    """The SDK's client with its HTTP call made through ``transport`` (everything else,
    request signing and the reply's verification, is the SDK's own code)."""

    def __init__(self, *args: Any, gateway: str, transport: Transport, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gateway, self._transport = gateway, transport

    def verified_sync_response(self, data: dict[str, Any], response_type: str) -> dict[str, Any]:
        url = self._gateway + "?" + self.sign_data(data)
        try:
            raw = self._transport(url)
        except OSError as exc:
            raise ProviderUnavailable(f"{data.get('method')}: {exc}") from None
        return self._verify_and_return_sync_response(raw, response_type)


@dataclass(frozen=True)
class Notification:
    """A verified Alipay notification, as fields (``kind``: ``payment`` or ``refund``)."""

    kind: str
    fields: dict[str, str]


class AlipayPay:
    """Alipay 当面付 (``alipay.trade.precreate``): the :class:`~.provider.Provider` for the
    second wallet. ``mchid`` is the seller_id (2088…), ``appid`` the app_id."""

    name = "alipay"

    def __init__(self, *, app_id: str, seller_id: str, app_private_key_pem: str, alipay_public_key_pem: str,
                 gateway: str = "https://openapi.alipay.com/gateway.do", transport: Transport | None = None,
                 clock: Callable[[], float] = time.time, fetch: Callable[[str], bytes] | None = None) -> None:
        self.appid, self.mchid, self.gateway = app_id, seller_id, gateway
        self._clock, self._fetch = clock, fetch or urllib_fetch
        self._sdk = _Sdk(app_id, None, app_private_key_pem, alipay_public_key_pem, sign_type="RSA2",
                         gateway=gateway, transport=transport or urllib_transport)

    @classmethod
    def from_config(cls, cfg: Any, clock: Callable[[], float] = time.time) -> "AlipayPay":
        return cls(app_id=cfg.app_id, seller_id=cfg.seller_id,
                   app_private_key_pem=cfg.app_private_key_file.read_text(encoding="utf-8"),
                   alipay_public_key_pem=cfg.alipay_public_key_file.read_text(encoding="utf-8"),
                   gateway=cfg.gateway, clock=clock)

    def _call(self, what: str, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            reply = call()
        except AliPayValidationError:
            raise ProviderUnavailable(f"{what}: the reply's signature does not verify") from None
        except AliPayException as exc:
            raise ProviderUnavailable(f"{what}: {str(exc)[:200]}") from None
        except (ValueError, AttributeError) as exc:  # not JSON, or not the expected shape
            raise ProviderUnavailable(f"{what}: reply not understood: {exc}") from None
        return reply if isinstance(reply, dict) else {}

    def create_native(self, order: NewOrder) -> str:
        reply = self._call("precreate", lambda: self._sdk.api_alipay_trade_precreate(
            subject=order.description[:256], out_trade_no=order.out_trade_no, total_amount=yuan(order.amount_fen),
            notify_url=order.notify_url, time_expire=china_time(order.expires_at)))
        if reply.get("code") != "10000" or not isinstance(reply.get("qr_code"), str):
            raise ProviderUnavailable(f"precreate: {reply.get('code')} {reply.get('sub_code', '')}")
        return reply["qr_code"]

    def query_order(self, out_trade_no: str) -> Trade:
        reply = self._call("query", lambda: self._sdk.api_alipay_trade_query(out_trade_no=out_trade_no))
        if reply.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return Trade(out_trade_no, "NOTPAY")
        if reply.get("code") != "10000":
            raise ProviderUnavailable(f"query: {reply.get('code')} {reply.get('sub_code', '')}")
        return Trade(out_trade_no, STATES.get(str(reply.get("trade_status")), str(reply.get("trade_status"))),
                     reply.get("trade_no"), fen_of(reply.get("total_amount")), self.mchid, self.appid)

    def close_order(self, out_trade_no: str) -> None:
        reply = self._call("close", lambda: self._sdk.api_alipay_trade_close(out_trade_no=out_trade_no))
        if reply.get("code") == "10000" or reply.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return  # never scanned: Alipay has no trade to close, and none can be paid
        if reply.get("sub_code") == "ACQ.TRADE_STATUS_ERROR":  # paid, or closed already: ask which
            state = self.query_order(out_trade_no).trade_state
            if state == "SUCCESS":
                raise OrderAlreadyPaid(out_trade_no)
            if state == "CLOSED":
                return
        raise ProviderUnavailable(f"close: {reply.get('code')} {reply.get('sub_code', '')}")

    def refund(self, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, reason: str = "",
               notify_url: str = "") -> Refund:
        """``alipay.trade.refund``, full or partial; ``out_refund_no`` (Alipay's
        ``out_request_no``) is unique per refund, so asking again is the same refund.
        Alipay answers synchronously: ``fund_change = Y`` is the refund done. ``notify_url``
        is not Alipay's to take: its refund notification goes to the payment's notify URL."""
        reply = self._call("refund", lambda: self._sdk.api_alipay_trade_refund(
            refund_amount=yuan(refund_fen), out_trade_no=out_trade_no, out_request_no=out_refund_no,
            refund_reason=reason[:256]))
        if reply.get("code") != "10000":
            raise ProviderUnavailable(f"refund: {reply.get('code')} {reply.get('sub_code', '')}")
        refunded = fen_of(reply.get("refund_fee"))
        return Refund(out_refund_no, "SUCCESS" if reply.get("fund_change") == "Y" else "PROCESSING",
                      refund_fen, reply.get("trade_no"), refunded)

    def download_bill(self, day: str) -> list[Any]:
        """``alipay.data.dataservice.bill.downloadurl.query`` (``bill_type=trade``) → a
        short-lived ``bill_download_url`` to a zip of GBK CSVs, fetched by ``fetch`` and read
        by :func:`.bills.parse_alipay_bill_zip`. ``isp.bill_not_exist``: no trades that day."""
        body = self._sdk.build_body("alipay.data.dataservice.bill.downloadurl.query",
                                    {"bill_type": "trade", "bill_date": day})
        reply = self._call("bill", lambda: self._sdk.verified_sync_response(
            body, "alipay_data_dataservice_bill_downloadurl_query_response"))
        if reply.get("sub_code") == "isp.bill_not_exist":
            return []
        url = reply.get("bill_download_url")
        if reply.get("code") != "10000" or not isinstance(url, str):
            raise ProviderUnavailable(f"bill: {reply.get('code')} {reply.get('sub_code', '')}")
        try:
            data = self._fetch(url)
        except OSError as exc:
            raise ProviderUnavailable(f"bill download: {exc}") from None
        return parse_alipay_bill_zip(data)

    # -- notifications --

    def verified(self, body: bytes, *, now: float) -> Notification:
        """The fields of a genuine notification, or :class:`NotificationRefused`."""
        try:
            fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise NotificationRefused("body", "not a UTF-8 form") from None
        signature = fields.pop("sign", "")
        if not signature or fields.get("sign_type") != "RSA2":
            raise NotificationRefused("signature", "sign and sign_type=RSA2 are required")
        try:
            good = self._sdk.verify(dict(fields), signature)
        except (AliPayException, ValueError, TypeError):
            good = False
        if not good:
            raise NotificationRefused("signature", "the signature does not verify with Alipay's public key")
        sent = parse_china_time(fields.get("notify_time", ""))
        if sent is None or now - sent > MAX_AGE_S or sent - now > MAX_AHEAD_S:
            raise NotificationRefused("stale", f"notify_time {fields.get('notify_time', '')[:20]!r} is not within "
                                               f"{MAX_AGE_S} s of now")
        if fields.get("app_id") != self.appid or fields.get("seller_id") != self.mchid:
            raise NotificationRefused("merchant", "app_id/seller_id are not ours")
        refund = "refund_fee" in fields or "out_biz_no" in fields or "gmt_refund" in fields
        return Notification("refund" if refund else "payment", fields)

    def verify_notification(self, headers: Mapping[str, str], body: bytes, *, now: float) -> dict[str, Any]:
        """A genuine payment notification as the transaction shape :mod:`.orders` reads
        (WeChat's: ``mchid``, ``appid``, ``trade_state``, ``amount.total`` in fen)."""
        note = self.verified(body, now=now)
        if note.kind != "payment":
            raise NotificationRefused("refund_notification", "a refund's notification pays nothing")
        f = note.fields
        total = fen_of(f.get("total_amount"))
        if total is None:
            raise NotificationRefused("amount", "total_amount is not an amount in yuan")
        return {"mchid": f.get("seller_id"), "appid": f.get("app_id"), "out_trade_no": f.get("out_trade_no", ""),
                "transaction_id": f.get("trade_no"), "trade_state": STATES.get(f.get("trade_status", ""), f.get("trade_status")),
                "amount": {"total": total}}

    def verify_refund_notification(self, headers: Mapping[str, str], body: bytes, *, now: float) -> Refund:
        """A genuine refund notification (Alipay sends ``refund_fee`` and ``out_biz_no``, the
        refund's out_request_no, to the payment's notify URL), or :class:`NotificationRefused`."""
        note = self.verified(body, now=now)
        if note.kind != "refund":
            raise NotificationRefused("not_refund", "a payment's notification is not a refund")
        f = note.fields
        return Refund(f.get("out_biz_no", ""), "SUCCESS", fen_of(f.get("refund_fee")) or 0, f.get("trade_no"),
                      fen_of(f.get("refund_fee")), out_trade_no=f.get("out_trade_no", ""))
