"""Payment orders at the centre: a hall's kiosk asks for an order for some bill lines, the
resident pays by QR code, the provider's notification settles the lines exactly once.

:func:`init_app` wires it into the central server: the provider named by the
``[payments]`` configuration (``sandbox`` for ``hall up`` and the tests, in a demo centre
only, with its Alipay twin; ``wechat`` for WeChat Pay, ``alipay`` for Alipay 当面付, or both
with ``providers``), the API for halls and the notification endpoint
(:mod:`.views`), and the expiry sweep in a thread. See ``docs/payments.md``.

Test configuration keys: ``PAYMENTS_CLOCK`` (a callable returning the time, for tests that
move it), ``PAYMENTS_SWEEP`` (False: no sweep thread; the test calls :meth:`Payments.sweep`).
"""

from __future__ import annotations

import time
from typing import Callable

from flask import Flask

from hall_common import auth
from hall_common.config import CentralConfig
from hall_common.errors import ConfigError

from . import views
from .provider import PaymentError, Provider
from .service import Payments


def make_providers(config: CentralConfig, clock: Callable[[], float]) -> tuple[list[Provider], list[object]]:
    """Every wallet of ``[payments] providers``, the default first; and the sandbox parts
    that serve them (demo only). The sandbox's Alipay is the real :class:`AlipayPay` talking
    to :class:`AlipaySandbox`'s gateway."""
    providers, sandboxes = [], []
    for name in config.payments.providers or [config.payments.provider]:
        if name == "alipay" and config.payments.provider == "sandbox":
            from .sandbox_alipay import AlipaySandbox

            twin = AlipaySandbox(config.data_dir / "payments-sandbox" / "alipay", clock=clock)
            providers.append(twin.provider())
            sandboxes.append(twin)
        elif name == "alipay":
            from .alipay import AlipayPay

            try:
                providers.append(AlipayPay.from_config(config.payments.alipay, clock=clock))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"payments.alipay: {exc}") from None
        else:
            providers.append(make_provider(config, clock, name))
    return providers, sandboxes


def make_provider(config: CentralConfig, clock: Callable[[], float], name: str | None = None) -> Provider:
    if (name or config.payments.provider) == "sandbox":
        from .sandbox import Sandbox

        return Sandbox(config.data_dir / "payments-sandbox", clock=clock)
    from .wechat import WeChatPay

    try:
        return WeChatPay.from_config(config.payments.wechat)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"payments.wechat: {exc}") from None


def init_app(app: Flask, config: CentralConfig) -> Payments:
    clock = app.config.get("PAYMENTS_CLOCK") or time.time
    providers, sandboxes = make_providers(config, clock)
    payments = Payments(provider=providers[0], more=tuple(providers[1:]), config=config.payments,
                        database_url=config.database_url, pool=app.extensions.get("store_pool"), clock=clock)
    payments.sandboxes = sandboxes
    app.extensions["payments"] = payments
    app.register_blueprint(views.bp)
    auth.csrf.exempt(views.bp)  # halls use a bearer token; WeChat Pay signs its notifications
    # The sandbox's pay pages mark any order paid: a demo centre's only (the configuration
    # refuses the sandbox elsewhere; this keeps the pages away even if that changed).
    if config.demo and payments.provider.name == "sandbox":
        app.register_blueprint(views.sandbox_bp)
        auth.csrf.exempt(views.sandbox_bp)  # the payer's phone, standing in for WeChat's own page
    if config.payments.sweep_s > 0 and app.config.get("PAYMENTS_SWEEP", True):
        payments.start_sweeper(config.payments.sweep_s)
    return payments


__all__ = ["Payments", "PaymentError", "init_app"]
