"""A WeChat Pay stand-in that lives in the centre: for ``hall up`` and the tests.

It behaves like WeChat Pay where the centre can tell: it has its own RSA platform key (made
at first start in the centre's data dir, with a serial number), an APIv3 key, a mchid and an
appid; its ``code_url`` opens a phone-sized page on the centre (``/sandbox/pay/<no>``,
:mod:`.views`) with a 确认支付 button; paying sends the notification to the order's notify
URL signed and encrypted exactly as WeChat does (:mod:`.wechat` builds both), retried after
1 s and 3 s unless answered SUCCESS, and sent ``duplicates`` extra times when told to (WeChat
may deliver a notification more than once). Its trades live in memory: one centre process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import wechat
from .provider import NewOrder, OrderAlreadyPaid, ProviderUnavailable, Refund, Trade

log = logging.getLogger(__name__)
MCHID = "1900000109"
APPID = "wxd678efh567hg6787"


@dataclass(frozen=True)
class SandboxTrade:
    order: NewOrder
    state: str = "NOTPAY"  # NOTPAY | SUCCESS | CLOSED
    transaction_id: str | None = None
    success_time: float | None = None


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def load_or_create_identity(folder: Path) -> tuple[rsa.RSAPrivateKey, str, bytes]:
    """The sandbox's platform key, its serial and its APIv3 key, made once and kept (mode 600),
    so notifications stay verifiable across restarts like a real merchant's would."""
    key_file, meta_file = folder / "platform_key.pem", folder / "sandbox.json"
    if key_file.exists() and meta_file.exists():
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        assert isinstance(key, rsa.RSAPrivateKey)
        return key, meta["serial"], meta["apiv3_key"].encode()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    serial = hashlib.sha1(der).hexdigest().upper()
    apiv3 = secrets.token_hex(16)  # 32 characters, as WeChat's APIv3 keys are
    _write_private(key_file, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    _write_private(meta_file, json.dumps({"serial": serial, "apiv3_key": apiv3}).encode())
    return key, serial, apiv3.encode()


def _post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST", headers={**headers, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Sandbox:
    """The sandbox provider. ``clock`` is shared with the centre, so its timestamps agree
    with a test's controllable clock; ``retry_delays`` are the seconds before each attempt."""

    name = "sandbox"

    def __init__(self, folder: Path, *, clock: Callable[[], float] = time.time, mchid: str = MCHID, appid: str = APPID,
                 retry_delays: tuple[float, ...] = (0.0, 1.0, 3.0), duplicates: int = 0) -> None:
        self._folder = folder
        self.mchid, self.appid, self._clock = mchid, appid, clock
        self.retry_delays, self.duplicates = retry_delays, duplicates
        self._trades: dict[str, SandboxTrade] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.refunds: dict[str, tuple[str, int]] = {}
        """out_refund_no -> (out_trade_no, fen), the refunds made."""
        self.refund_states: dict[str, tuple[str, float]] = {}
        """out_refund_no -> (``PROCESSING`` | ``SUCCESS``, when it was asked or succeeded)."""
        self.deliver_refunds = True
        """Send each refund's ``REFUND.SUCCESS`` to the notify URL it was asked with (tests
        without an HTTP server turn it off and post :meth:`refund_notification` themselves)."""
        self.refund_deliveries: list[tuple[str, int]] = []
        """(out_refund_no, HTTP status) of every refund notification sent."""
        self.deliveries: list[tuple[str, int]] = []
        """(out_trade_no, HTTP status) of every notification sent, for the curious and the tests."""

    @functools.cached_property
    def _identity(self) -> tuple[rsa.RSAPrivateKey, str, bytes]:
        # Made on first use, not at start: most centres (and most tests) never pay.
        return load_or_create_identity(self._folder)

    @property
    def _key(self) -> rsa.RSAPrivateKey:
        return self._identity[0]

    @property
    def serial(self) -> str:
        return self._identity[1]

    @property
    def apiv3_key(self) -> bytes:
        return self._identity[2]

    @property
    def platform_keys(self) -> dict[str, rsa.RSAPublicKey]:
        return {self.serial: self._key.public_key()}

    # -- the provider interface --

    def create_native(self, order: NewOrder) -> str:
        with self._lock:
            self._trades[order.out_trade_no] = SandboxTrade(order)
        return f"{order.site_url.rstrip('/')}/sandbox/pay/{order.out_trade_no}"

    def trade(self, out_trade_no: str) -> SandboxTrade | None:
        with self._lock:
            return self._trades.get(out_trade_no)

    def waiting(self) -> list[SandboxTrade]:
        """Trades not yet paid or closed, newest first (for a person trying ``hall up``
        without a phone: the sandbox's list links to each pay page)."""
        with self._lock:
            return [t for t in reversed(self._trades.values()) if t.state == "NOTPAY"]

    def query_order(self, out_trade_no: str) -> Trade:
        t = self.trade(out_trade_no)
        if t is None:
            return Trade(out_trade_no, "NOTPAY")
        return Trade(out_trade_no, t.state, t.transaction_id, t.order.amount_fen, self.mchid, self.appid)

    def close_order(self, out_trade_no: str) -> None:
        with self._lock:
            t = self._trades.get(out_trade_no)
            if t is not None and t.state == "SUCCESS":
                raise OrderAlreadyPaid(out_trade_no)
            if t is not None:
                self._trades[out_trade_no] = replace(t, state="CLOSED")

    def verify_notification(self, headers: Mapping[str, str], body: bytes, *, now: float) -> dict[str, Any]:
        return wechat.verify_notification(headers, body, platform_keys=self.platform_keys, apiv3_key=self.apiv3_key, now=now)

    def refund(self, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, reason: str = "",
               notify_url: str = "") -> Refund:
        """WeChat's refund rules: a paid trade, the total right, never more than was paid;
        the same ``out_refund_no`` again is the same refund (answered with its state now).
        Asked with a ``notify_url``, it answers ``PROCESSING`` as WeChat does, then the money
        goes back and the ``REFUND.SUCCESS`` notification is posted there (retried after 1 s
        and 3 s); without one (the automatic refund of a bill paid twice) it answers
        ``SUCCESS`` at once."""
        with self._lock:
            t = self._trades.get(out_trade_no)
            if out_refund_no in self.refunds:
                state = self.refund_states.get(out_refund_no, ("SUCCESS", 0.0))[0]
                return Refund(out_refund_no, state, self.refunds[out_refund_no][1], out_refund_no, None, out_trade_no)
            done = sum(f for no, f in self.refunds.values() if no == out_trade_no)
            if t is None or t.state != "SUCCESS" or total_fen != t.order.amount_fen or not 0 < refund_fen <= total_fen - done:
                raise ProviderUnavailable(f"refund {out_refund_no}: refused (not paid, or more than was paid)")
            self.refunds[out_refund_no] = (out_trade_no, refund_fen)
            state = "PROCESSING" if notify_url else "SUCCESS"
            self.refund_states[out_refund_no] = (state, self._clock())
        if notify_url and self.deliver_refunds:
            threading.Thread(target=self._deliver_refund, args=(out_refund_no, notify_url),
                             name=f"sandbox-refund-{out_refund_no[-8:]}", daemon=True).start()
        return Refund(out_refund_no, state, refund_fen, out_refund_no, done + refund_fen, out_trade_no)

    def settle_refund(self, out_refund_no: str) -> None:
        """The money of a ``PROCESSING`` refund is back with the payer: ``SUCCESS`` now."""
        with self._lock:
            if out_refund_no in self.refunds and self.refund_states.get(out_refund_no, ("",))[0] != "SUCCESS":
                self.refund_states[out_refund_no] = ("SUCCESS", self._clock())

    def _deliver_refund(self, out_refund_no: str, url: str) -> None:
        self.settle_refund(out_refund_no)
        for delay in self.retry_delays:
            if self._stop.wait(delay):
                return
            headers, body = self.refund_notification(out_refund_no)
            try:
                status, reply = _post(url, headers, body)
            except OSError as exc:
                log.warning("sandbox refund notification %s not delivered: %s", out_refund_no, exc)
                continue
            with self._lock:
                self.refund_deliveries.append((out_refund_no, status))
            try:
                answered = json.loads(reply or b"{}").get("code") == "SUCCESS"
            except ValueError:
                answered = False
            if status in (200, 204) and (answered or not reply):
                return
        log.error("sandbox refund notification %s gave up after %d attempts", out_refund_no, len(self.retry_delays))

    def verify_refund_notification(self, headers: Mapping[str, str], body: bytes, *, now: float) -> Refund:
        return wechat.verify_refund_notification(headers, body, platform_keys=self.platform_keys, apiv3_key=self.apiv3_key,
                                                 mchid=self.mchid, now=now)

    def refund_notification(self, out_refund_no: str, /, **overrides: Any) -> tuple[dict[str, str], bytes]:
        """The ``REFUND.SUCCESS`` notification of a refund made here, as WeChat sends it."""
        out_trade_no, fen = self.refunds[out_refund_no]
        t = self.trade(out_trade_no)
        assert t is not None
        data = {"mchid": self.mchid, "out_trade_no": out_trade_no, "transaction_id": t.transaction_id,
                "out_refund_no": out_refund_no, "refund_id": out_refund_no, "refund_status": "SUCCESS",
                "success_time": wechat.rfc3339(self._clock()), "user_received_account": "支付用户零钱",
                "amount": {"total": t.order.amount_fen, "refund": fen, "payer_total": t.order.amount_fen, "payer_refund": fen}}
        data.update(overrides)
        resource = wechat.encrypt_resource(self.apiv3_key, json.dumps(data, ensure_ascii=False), associated_data="refund")
        resource["original_type"] = "refund"
        envelope = {"id": str(uuid.uuid4()), "create_time": wechat.rfc3339(self._clock()), "resource_type": "encrypt-resource",
                    "event_type": "REFUND.SUCCESS", "summary": "退款成功", "resource": resource}
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
        return self.signed(body), body.encode()

    def download_bill(self, day: str) -> list[Any]:
        """The day's tradebill of the trades paid here, written in WeChat Pay's format
        (:func:`.bills.wechat_tradebill`) and read back by the parser the real provider uses."""
        from .bills import parse_wechat_tradebill, wechat_tradebill

        return parse_wechat_tradebill(wechat_tradebill(self.bill_rows(day), appid=self.appid, mchid=self.mchid))

    def bill_rows(self, day: str) -> list[Any]:
        from .bills import BillRow

        with self._lock:
            paid = [t for t in self._trades.values() if t.state == "SUCCESS" and t.success_time is not None]
            refunds = [(no, *self.refunds[no], self.refund_states[no][1]) for no in self.refunds
                       if self.refund_states.get(no, ("",))[0] == "SUCCESS"]
        rows = []
        for t in sorted(paid, key=lambda t: t.success_time or 0.0):
            at = datetime.fromtimestamp(t.success_time or 0.0, wechat.CHINA)
            if at.date().isoformat() == day:
                rows.append(BillRow(t.order.out_trade_no, "pay", t.order.amount_fen, t.transaction_id or "",
                                    at.strftime("%Y-%m-%d %H:%M:%S")))
        for refund_no, trade_no, fen, when in sorted(refunds, key=lambda r: r[3]):
            at = datetime.fromtimestamp(when, wechat.CHINA)
            t = self._trades.get(trade_no)
            if at.date().isoformat() == day and t is not None:
                rows.append(BillRow(trade_no, "refund", fen, t.transaction_id or "", at.strftime("%Y-%m-%d %H:%M:%S"),
                                    out_refund_no=refund_no))
        return rows

    def paid_trade(self, order: NewOrder, at: float) -> SandboxTrade:
        """A trade paid at ``at`` without the payer's page or a notification: for a test
        that fills a day with payments quickly."""
        t = SandboxTrade(order, "SUCCESS", "4200" + uuid.uuid4().hex[:24], at)
        with self._lock:
            self._trades[order.out_trade_no] = t
        return t

    # -- the payer's side --

    def pay(self, out_trade_no: str, *, deliver: bool = True, even_if_closed: bool = False) -> SandboxTrade:
        """The payer confirms: the money is taken and the notification goes out (in a thread,
        with retries). ``even_if_closed`` plays the race where a payment lands as the order
        is being closed. Raises :class:`LookupError` for an unknown trade and
        :class:`PermissionError` for a closed one."""
        with self._lock:
            t = self._trades.get(out_trade_no)
            if t is None:
                raise LookupError(out_trade_no)
            if t.state == "CLOSED" and not even_if_closed:
                raise PermissionError(out_trade_no)
            if t.state != "SUCCESS":
                t = replace(t, state="SUCCESS", transaction_id="4200" + uuid.uuid4().hex[:24], success_time=self._clock())
                self._trades[out_trade_no] = t
        if deliver:
            threading.Thread(target=self._deliver, args=(t,), name=f"sandbox-notify-{out_trade_no}", daemon=True).start()
        return t

    def notification(self, out_trade_no: str, /, **overrides: Any) -> tuple[dict[str, str], bytes]:
        """The notification of a paid trade, headers and body, as WeChat would send it;
        ``overrides`` change fields of the transaction before it is encrypted (for tests
        that forge amounts or merchants)."""
        t = self.trade(out_trade_no)
        if t is None or t.transaction_id is None:
            raise LookupError(f"{out_trade_no}: not paid")
        now = self._clock()
        transaction = {
            "mchid": self.mchid, "appid": self.appid, "out_trade_no": out_trade_no, "transaction_id": t.transaction_id,
            "trade_type": "NATIVE", "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
            "attach": "", "success_time": wechat.rfc3339(t.success_time or now), "payer": {"openid": "sandbox-payer"},
            "amount": {"total": t.order.amount_fen, "payer_total": t.order.amount_fen, "currency": "CNY", "payer_currency": "CNY"},
        }
        transaction.update(overrides)
        envelope = {
            "id": str(uuid.uuid4()), "create_time": wechat.rfc3339(now), "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
            "resource": wechat.encrypt_resource(self.apiv3_key, json.dumps(transaction, ensure_ascii=False)),
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
        return self.signed(body), body.encode()

    def signed(self, body: str) -> dict[str, str]:
        """The ``Wechatpay-*`` headers for ``body``, signed with the platform key now."""
        return wechat.signed_headers(self._key, self.serial, body, timestamp=int(self._clock()), nonce_str=wechat.nonce())

    def _send_once(self, t: SandboxTrade) -> bool:
        headers, body = self.notification(t.order.out_trade_no)
        try:
            status, reply = _post(t.order.notify_url, headers, body)
        except OSError as exc:
            log.warning("sandbox notification for %s not delivered: %s", t.order.out_trade_no, exc)
            return False
        with self._lock:
            self.deliveries.append((t.order.out_trade_no, status))
        try:
            answered = json.loads(reply or b"{}").get("code") == "SUCCESS"
        except ValueError:
            answered = False
        return status in (200, 204) and (answered or not reply)

    def _deliver(self, t: SandboxTrade) -> None:
        for delay in self.retry_delays:
            if self._stop.wait(delay):
                return
            if self._send_once(t):
                for _ in range(self.duplicates):
                    self._send_once(t)
                return
        log.error("sandbox notification for %s gave up after %d attempts", t.order.out_trade_no, len(self.retry_delays))

    def close(self) -> None:
        self._stop.set()

