"""WeChat Pay APIv3, Native payment: the message format, and the provider that speaks it.

The format, as WeChat Pay documents it (pay.weixin.qq.com/docs/merchant/development/
interface-rules/signature-generation.html and .../signature-verification.html):

- **Requests** carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
  signature="…",timestamp="…",serial_no="…"``; the signature is RSA-SHA256 (PKCS#1 v1.5) with
  the merchant's API key over ``"{METHOD}\\n{path?query}\\n{timestamp}\\n{nonce}\\n{body}\\n"``.
- **Notifications and replies** from WeChat carry ``Wechatpay-Timestamp``, ``-Nonce``,
  ``-Signature`` and ``-Serial``; the signature is over ``"{timestamp}\\n{nonce}\\n{body}\\n"``
  with the platform key named by the serial. The notification's ``resource`` is encrypted
  with AEAD_AES_256_GCM under the merchant's APIv3 key.

Everything money depends on is in :func:`verify_notification`: a notification is believed
only with a valid signature from a known serial, a fresh timestamp and a resource that
decrypts (GCM authenticates it). The sandbox builds its messages with the functions here,
so the verification the tests exercise is the one production uses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .provider import NewOrder, NotificationRefused, OrderAlreadyPaid, ProviderUnavailable, Refund, Trade

MAX_SKEW_S = 300
"""Notifications older (or further in the future) than this are refused: a replay window."""
SCHEME = "WECHATPAY2-SHA256-RSA2048"
CHINA = timezone(timedelta(hours=8))


# -- signatures ------------------------------------------------------------------------------


def sign(private_key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def signature_valid(public_key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True), message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def nonce() -> str:
    return secrets.token_hex(16).upper()


def authorization(*, mchid: str, serial: str, private_key: rsa.RSAPrivateKey, method: str, path: str, body: str,
                  timestamp: int, nonce_str: str) -> str:
    """The ``Authorization`` header of a request to WeChat Pay (``path`` includes the query)."""
    message = f"{method.upper()}\n{path}\n{timestamp}\n{nonce_str}\n{body}\n"
    return (f'{SCHEME} mchid="{mchid}",nonce_str="{nonce_str}",signature="{sign(private_key, message)}",'
            f'timestamp="{timestamp}",serial_no="{serial}"')


def verify_authorization(header: str, *, method: str, path: str, body: str, public_key: rsa.RSAPublicKey) -> dict[str, str]:
    """The fields of a genuine ``Authorization`` header (what WeChat Pay's side checks), or
    :class:`NotificationRefused`. Used by the tests to hold :func:`authorization` honest."""
    if not header.startswith(SCHEME + " "):
        raise NotificationRefused("scheme", "not " + SCHEME)
    fields = dict(re.findall(r'(\w+)="([^"]*)"', header.removeprefix(SCHEME + " ")))
    if not {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} <= fields.keys():
        raise NotificationRefused("authorization", "missing fields")
    message = f"{method.upper()}\n{path}\n{fields['timestamp']}\n{fields['nonce_str']}\n{body}\n"
    if not signature_valid(public_key, message, fields["signature"]):
        raise NotificationRefused("signature", "request signature does not verify")
    return fields


def signed_headers(private_key: rsa.RSAPrivateKey, serial: str, body: str, *, timestamp: int, nonce_str: str) -> dict[str, str]:
    """The ``Wechatpay-*`` headers WeChat Pay puts on a notification or a reply."""
    return {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": nonce_str,
        "Wechatpay-Signature": sign(private_key, f"{timestamp}\n{nonce_str}\n{body}\n"),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }


def verify_signed(headers: Mapping[str, str], body: bytes, *, platform_keys: Mapping[str, rsa.RSAPublicKey],
                  now: float) -> str:
    """Check the ``Wechatpay-*`` signature of a message; return the body as text."""
    timestamp, nonce_str = headers.get("Wechatpay-Timestamp", ""), headers.get("Wechatpay-Nonce", "")
    signature, serial = headers.get("Wechatpay-Signature", ""), headers.get("Wechatpay-Serial", "")
    if not (timestamp and nonce_str and signature and serial):
        raise NotificationRefused("headers", "Wechatpay-Timestamp, -Nonce, -Signature and -Serial are required")
    key = platform_keys.get(serial)
    if key is None:
        raise NotificationRefused("serial", f"unknown platform serial {serial[:64]!r}")
    if not (timestamp.isascii() and timestamp.isdigit()) or abs(now - int(timestamp)) > MAX_SKEW_S:  # "²" is a digit to isdigit
        raise NotificationRefused("stale", f"timestamp {timestamp[:20]!r} is more than {MAX_SKEW_S} s off")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise NotificationRefused("body", "not UTF-8") from None
    if not signature_valid(key, f"{timestamp}\n{nonce_str}\n{text}\n", signature):
        raise NotificationRefused("signature", "the signature does not verify")
    return text


# -- the encrypted resource ------------------------------------------------------------------


def encrypt_resource(apiv3_key: bytes, plaintext: str, *, associated_data: str = "transaction",
                     nonce_str: str | None = None) -> dict[str, str]:
    nonce_str = nonce_str or secrets.token_hex(6)  # WeChat uses 12 characters
    ciphertext = AESGCM(apiv3_key).encrypt(nonce_str.encode(), plaintext.encode(), associated_data.encode())
    return {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(ciphertext).decode(),
            "associated_data": associated_data, "nonce": nonce_str}


def decrypt_resource(apiv3_key: bytes, resource: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(resource, Mapping) or resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise NotificationRefused("resource", "algorithm must be AEAD_AES_256_GCM")
    try:
        plain = AESGCM(apiv3_key).decrypt(str(resource.get("nonce", "")).encode(),
                                          base64.b64decode(str(resource.get("ciphertext", "")), validate=True),
                                          str(resource.get("associated_data") or "").encode())
        data = json.loads(plain)
    except (InvalidTag, ValueError):
        raise NotificationRefused("decrypt", "the resource does not decrypt with the APIv3 key") from None
    if not isinstance(data, dict):
        raise NotificationRefused("resource", "the resource is not an object")
    return data


def verify_notification(headers: Mapping[str, str], body: bytes, *, platform_keys: Mapping[str, rsa.RSAPublicKey],
                        apiv3_key: bytes, now: float) -> dict[str, Any]:
    """The decrypted transaction of a genuine notification, or :class:`NotificationRefused`."""
    text = verify_signed(headers, body, platform_keys=platform_keys, now=now)
    try:
        envelope = json.loads(text)
    except ValueError:
        raise NotificationRefused("body", "not JSON") from None
    if not isinstance(envelope, dict) or envelope.get("resource_type") != "encrypt-resource":
        raise NotificationRefused("body", "resource_type must be encrypt-resource")
    return decrypt_resource(apiv3_key, envelope.get("resource") or {})


def verify_refund_notification(headers: Mapping[str, str], body: bytes, *, platform_keys: Mapping[str, rsa.RSAPublicKey],
                               apiv3_key: bytes, mchid: str, now: float) -> Refund:
    """The refund a genuine ``REFUND.*`` notification reports (signed and AES-GCM encrypted
    like a payment's), or :class:`NotificationRefused`."""
    text = verify_signed(headers, body, platform_keys=platform_keys, now=now)
    try:
        envelope = json.loads(text)
    except ValueError:
        raise NotificationRefused("body", "not JSON") from None
    if (not isinstance(envelope, dict) or envelope.get("resource_type") != "encrypt-resource"
            or not str(envelope.get("event_type", "")).startswith("REFUND.")):
        raise NotificationRefused("body", "not a REFUND.* encrypt-resource notification")
    data = decrypt_resource(apiv3_key, envelope.get("resource") or {})
    if data.get("mchid") != mchid:
        raise NotificationRefused("merchant", "mchid is not ours")
    return refund_of(data)


def refund_of(data: Mapping[str, Any]) -> Refund:
    """A :class:`Refund` from a refund object (a reply or a decrypted notification)."""
    amount = data.get("amount") if isinstance(data.get("amount"), dict) else {}
    fen = amount.get("refund")
    return Refund(str(data.get("out_refund_no", "")), str(data.get("refund_status") or data.get("status") or ""),
                  fen if isinstance(fen, int) else 0, data.get("refund_id"), None, str(data.get("out_trade_no", "")))


def trade_of(data: Mapping[str, Any]) -> Trade:
    """A :class:`Trade` from a transaction object (a decrypted notification or a query reply)."""
    amount = data.get("amount") if isinstance(data.get("amount"), dict) else {}
    total = amount.get("total")
    return Trade(out_trade_no=str(data.get("out_trade_no", "")), trade_state=str(data.get("trade_state", "")),
                 transaction_id=data.get("transaction_id"), amount_total=total if isinstance(total, int) else None,
                 mchid=data.get("mchid"), appid=data.get("appid"))


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, CHINA).isoformat(timespec="seconds")


# -- the real provider -------------------------------------------------------------------------

Send = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


def urllib_send(method: str, url: str, headers: dict[str, str], body: bytes, *, timeout: float = 10.0
                ) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body if method != "GET" else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()
    except OSError as exc:
        raise ProviderUnavailable(f"{method} {url}: {exc}") from None


def load_public_key(path: Path) -> rsa.RSAPublicKey:
    """A platform certificate or a bare platform public key (WeChat's newer 微信支付公钥)."""
    data = path.read_bytes()
    key = (x509.load_pem_x509_certificate(data).public_key() if b"BEGIN CERTIFICATE" in data
           else serialization.load_pem_public_key(data))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path}: not an RSA key")
    return key


class WeChatPay:
    """WeChat Pay Native (扫码支付) over APIv3. ``send`` is the HTTP seam (``urllib`` by
    default); every reply is checked with the platform key before it is believed."""

    name = "wechat"

    def __init__(self, *, mchid: str, appid: str, serial: str, private_key: rsa.RSAPrivateKey,
                 platform_keys: Mapping[str, rsa.RSAPublicKey], apiv3_key: bytes,
                 api_base: str = "https://api.mch.weixin.qq.com", send: Send | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if len(apiv3_key) != 32:
            raise ValueError("the APIv3 key is 32 bytes")
        self.mchid, self.appid, self.serial = mchid, appid, serial
        self._key, self.platform_keys, self.apiv3_key = private_key, dict(platform_keys), apiv3_key
        self.api_base, self._send, self._clock = api_base.rstrip("/"), send or urllib_send, clock

    @classmethod
    def from_config(cls, cfg: Any) -> "WeChatPay":
        private_key = serialization.load_pem_private_key(cfg.private_key_file.read_bytes(), password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError("wechat.private_key_file: not an RSA private key")
        return cls(mchid=cfg.mchid, appid=cfg.appid, serial=cfg.serial, private_key=private_key,
                   platform_keys={cfg.platform_serial: load_public_key(cfg.platform_key_file)},
                   apiv3_key=cfg.apiv3_key_file.read_text(encoding="utf-8").strip().encode(), api_base=cfg.api_base)

    def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if payload is not None else ""
        header = authorization(mchid=self.mchid, serial=self.serial, private_key=self._key, method=method, path=path,
                               body=body, timestamp=int(self._clock()), nonce_str=nonce())
        headers = {"Authorization": header, "Accept": "application/json", "Content-Type": "application/json",
                   "User-Agent": "service-hall-centre/1"}
        status, reply_headers, reply = self._send(method, self.api_base + path, headers, body.encode())
        if status >= 500:
            raise ProviderUnavailable(f"{method} {path}: HTTP {status}")
        if reply:  # WeChat signs its replies; an unsigned or forged one is not believed
            try:
                verify_signed({k.title(): v for k, v in reply_headers.items()}, reply,
                              platform_keys=self.platform_keys, now=self._clock())
                data = json.loads(reply)
            except (NotificationRefused, ValueError) as exc:
                raise ProviderUnavailable(f"{method} {path}: reply not believed: {exc}") from None
        else:
            data = {}
        return status, data if isinstance(data, dict) else {}

    def create_native(self, order: NewOrder) -> str:
        status, data = self._call("POST", "/v3/pay/transactions/native", {
            "appid": self.appid, "mchid": self.mchid, "description": order.description[:127],
            "out_trade_no": order.out_trade_no, "time_expire": rfc3339(order.expires_at),
            "notify_url": order.notify_url, "amount": {"total": order.amount_fen, "currency": "CNY"},
        })
        if status != 200 or not isinstance(data.get("code_url"), str):
            raise ProviderUnavailable(f"create: HTTP {status} {data.get('code', '')} {data.get('message', '')}")
        return data["code_url"]

    def query_order(self, out_trade_no: str) -> Trade:
        no = urllib.parse.quote(out_trade_no, safe="")
        status, data = self._call("GET", f"/v3/pay/transactions/out-trade-no/{no}?mchid={self.mchid}", None)
        if status == 404 or data.get("code") == "ORDER_NOT_EXIST":
            return Trade(out_trade_no, "NOTPAY")
        if status != 200:
            raise ProviderUnavailable(f"query: HTTP {status} {data.get('code', '')}")
        return trade_of(data)

    def close_order(self, out_trade_no: str) -> None:
        no = urllib.parse.quote(out_trade_no, safe="")
        status, data = self._call("POST", f"/v3/pay/transactions/out-trade-no/{no}/close", {"mchid": self.mchid})
        if data.get("code") == "ORDERPAID":
            raise OrderAlreadyPaid(out_trade_no)
        if status not in (200, 204):
            raise ProviderUnavailable(f"close: HTTP {status} {data.get('code', '')}")

    def verify_notification(self, headers: Mapping[str, str], body: bytes, *, now: float) -> dict[str, Any]:
        return verify_notification(headers, body, platform_keys=self.platform_keys, apiv3_key=self.apiv3_key, now=now)

    def refund(self, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, reason: str = "",
               notify_url: str = "") -> Refund:
        """``POST /v3/refund/domestic/refunds``, full or partial; WeChat answers
        ``PROCESSING`` or ``SUCCESS`` and later sends a ``REFUND.SUCCESS`` notification to
        ``notify_url`` (the centre's ``/api/v1/payments/refund-notify/wechat``)."""
        payload: dict[str, Any] = {"out_trade_no": out_trade_no, "out_refund_no": out_refund_no,
                                   "amount": {"refund": refund_fen, "total": total_fen, "currency": "CNY"}}
        if reason:
            payload["reason"] = reason[:80]
        if notify_url:
            payload["notify_url"] = notify_url
        status, data = self._call("POST", "/v3/refund/domestic/refunds", payload)
        if status != 200 or not data.get("out_refund_no"):
            raise ProviderUnavailable(f"refund: HTTP {status} {data.get('code', '')} {data.get('message', '')}")
        return refund_of(data)

    def verify_refund_notification(self, headers: Mapping[str, str], body: bytes, *, now: float) -> Refund:
        return verify_refund_notification(headers, body, platform_keys=self.platform_keys, apiv3_key=self.apiv3_key,
                                          mchid=self.mchid, now=now)

    def download_bill(self, day: str) -> list[Any]:
        """``GET /v3/bill/tradebill?bill_date=…&bill_type=ALL`` → ``download_url``, fetched
        with a signed request (the file itself is not signed: its SHA1 ``hash_value`` from
        the signed reply is checked instead), then read by :func:`.bills.parse_wechat_tradebill`."""
        from .bills import BillUnreadable, parse_wechat_tradebill

        status, data = self._call("GET", f"/v3/bill/tradebill?bill_date={day}&bill_type=ALL", None)
        if data.get("code") == "NO_STATEMENT_EXIST":
            return []  # no trades that day
        url = data.get("download_url")
        if status != 200 or not isinstance(url, str) or not url.startswith(self.api_base + "/"):
            raise ProviderUnavailable(f"tradebill: HTTP {status} {data.get('code', '')}")
        path = url.removeprefix(self.api_base)
        header = authorization(mchid=self.mchid, serial=self.serial, private_key=self._key, method="GET", path=path,
                               body="", timestamp=int(self._clock()), nonce_str=nonce())
        status, _, raw = self._send("GET", url, {"Authorization": header, "User-Agent": "service-hall-centre/1"}, b"")
        if status != 200:
            raise ProviderUnavailable(f"tradebill download: HTTP {status}")
        if data.get("hash_type") == "SHA1" and hashlib.sha1(raw).hexdigest() != str(data.get("hash_value", "")).lower():
            raise BillUnreadable("tradebill: the file's SHA1 is not the one WeChat named")
        try:
            return parse_wechat_tradebill(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise BillUnreadable("tradebill: not UTF-8") from None
