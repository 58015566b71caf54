"""What the centre needs from a payment provider, whichever it is.

Three providers speak this interface: :class:`~.wechat.WeChatPay` (HTTP to WeChat Pay's APIv3),
:class:`~.alipay.AlipayPay` (Alipay 当面付 through python-alipay-sdk) and
:class:`~.sandbox.Sandbox` (WeChat's messages, paid on a page of the centre itself; its Alipay
twin :mod:`.sandbox_alipay` answers the real AlipayPay in Alipay's shapes).
The order logic (:mod:`.orders`) only ever talks to this interface, the way a gpiozero device
only talks to its pin factory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from hall_common.errors import HallError


class PaymentError(HallError):
    """Base class for payment errors."""


class ProviderUnavailable(PaymentError, ConnectionError):
    """The provider did not answer, or answered with an error we cannot act on."""


class OrderAlreadyPaid(PaymentError, RuntimeError):
    """The provider refused to close an order because it is paid (WeChat's ``ORDERPAID``)."""


class NotificationRefused(PaymentError, ValueError):
    """A notification that is not believed; ``reason`` is short and goes into the log and
    the FAIL reply (``signature``, ``stale``, ``decrypt``, ``mchid``, ``amount`` ...)."""

    def __init__(self, reason: str, detail: str = "", status: int = 400) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail, self.status = reason, detail, status


@dataclass(frozen=True)
class NewOrder:
    """What the provider is told about a new order (never more)."""

    out_trade_no: str
    description: str
    amount_fen: int
    expires_at: float
    notify_url: str
    site_url: str
    """The centre's own base URL (the sandbox's pay page lives there; WeChat ignores it)."""


@dataclass(frozen=True)
class Trade:
    """The provider's view of an order (WeChat's ``trade_state`` values: ``SUCCESS``,
    ``NOTPAY``, ``CLOSED``, ``USERPAYING``, ``PAYERROR``, ``REFUND``...)."""

    out_trade_no: str
    trade_state: str
    transaction_id: str | None = None
    amount_total: int | None = None
    mchid: str | None = None
    appid: str | None = None


@dataclass(frozen=True)
class Refund:
    """A provider's answer about one refund. ``status``: ``SUCCESS`` (money returned: the
    refund is confirmed), ``PROCESSING``, ``ABNORMAL`` or ``CLOSED`` (WeChat's words; Alipay's
    synchronous ``fund_change = Y`` is ``SUCCESS``). ``refunded_fen``: the order's refunds so
    far, when the provider says."""

    out_refund_no: str
    status: str
    amount_fen: int
    refund_id: str | None = None
    refunded_fen: int | None = None
    out_trade_no: str = ""


class Provider(Protocol):
    """A payment provider. ``name`` is the last part of its notify URL."""

    name: str
    mchid: str
    appid: str

    def create_native(self, order: NewOrder) -> str:
        """Open the order; return the ``code_url`` a phone's scanner opens (the QR content)."""

    def query_order(self, out_trade_no: str) -> Trade:
        """The provider's state of the order (``NOTPAY`` when it never heard of it)."""

    def close_order(self, out_trade_no: str) -> None:
        """Close the order so it can no longer be paid; :class:`OrderAlreadyPaid` if it was."""

    def verify_notification(self, headers: Mapping[str, str], body: bytes, *, now: float) -> dict[str, Any]:
        """The decrypted transaction of a genuine notification, or :class:`NotificationRefused`."""

    def refund(self, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, reason: str = "",
               notify_url: str = "") -> Refund:
        """Refund ``refund_fen`` of a paid order (all of ``total_fen``, or part); asking again
        with the same ``out_refund_no`` is the same refund, never a second one. ``notify_url``:
        where the provider posts the refund's notification (WeChat takes it with the request;
        Alipay posts to the payment's notify URL and ignores it)."""

    def verify_refund_notification(self, headers: Mapping[str, str], body: bytes, *, now: float) -> Refund:
        """The refund a genuine refund notification reports, or :class:`NotificationRefused`."""

    def download_bill(self, day: str) -> list[Any]:
        """The provider's bill of ``day`` (``YYYY-MM-DD``, China time): its payments and
        refunds as :class:`~.bills.BillRow`; :class:`ProviderUnavailable` if it cannot be had
        or read. A day without trades is an empty list."""
