"""The central server's configuration (``central_sync/server``), payment providers included."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import BootstrapUser, ConsoleConfig, HttpConfig, PartConfig, PrivacyConfig, RelPath, Section, relative_to_file


class WeChatPayConfig(Section):
    """A merchant's WeChat Pay APIv3 credentials (Native payment). The files hold secrets and
    are read at start; the platform key verifies what WeChat sends (notifications, replies)."""

    mchid: str = Field(pattern=r"^\d{8,12}$")
    appid: str = Field(pattern=r"^wx[0-9a-f]{16}$")
    serial: str = Field(pattern=r"^[0-9A-Fa-f]{8,64}$", description="the merchant API certificate's serial number")
    private_key_file: RelPath = Field(description="the merchant API private key (apiclient_key.pem)")
    platform_serial: str = Field(min_length=8, max_length=64, description="Wechatpay-Serial of the platform key below")
    platform_key_file: RelPath = Field(description="the WeChat Pay platform certificate or public key (PEM)")
    apiv3_key_file: RelPath = Field(description="the 32-byte APIv3 key that encrypts notification resources")
    api_base: str = Field("https://api.mch.weixin.qq.com", pattern=r"^https?://")


class AlipayConfig(Section):
    """A merchant's Alipay 当面付 credentials (open platform app, RSA2 keys). The files are
    read at start; Alipay's public key verifies what Alipay sends (notifications, replies)."""

    app_id: str = Field(pattern=r"^\d{16}$")
    seller_id: str = Field(pattern=r"^2088\d{12}$", description="the merchant's PID; notifications for another are refused")
    app_private_key_file: RelPath = Field(description="the app's RSA2 private key (PEM) that signs requests")
    alipay_public_key_file: RelPath = Field(description="Alipay's public key (PEM, 支付宝公钥)")
    gateway: str = Field("https://openapi.alipay.com/gateway.do", pattern=r"^https?://")


class PaymentsConfig(Section):
    """Payment orders at the centre (``central_sync/server/payments``)."""

    provider: Literal["sandbox", "wechat", "alipay"] = "sandbox"
    order_ttl_s: int = Field(300, ge=60, le=7200)
    sweep_s: float = Field(30.0, ge=0, le=3600, description="how often expired orders are closed; 0 = never")
    notify_base_url: str | None = Field(
        None, pattern=r"^https?://",
        description="the centre's public URL; notifications go to <it>/api/v1/payments/notify/<provider>. "
                    "Unset: the URL the hall reached the centre by (fine for the sandbox, not for WeChat)")
    wechat: WeChatPayConfig | None = None
    providers: list[Literal["sandbox", "wechat", "alipay"]] | None = Field(
        None, description="every wallet offered (an order names one; the first is the default). Unset: [provider], "
                          "and with the sandbox [\"sandbox\", \"alipay\"] (the sandbox answers in both shapes)")
    alipay: AlipayConfig | None = None

    @model_validator(mode="after")
    def _each_wallet_needs_its_keys(self) -> "PaymentsConfig":
        if self.providers and "provider" not in self.model_fields_set:
            object.__setattr__(self, "provider", self.providers[0])  # frozen: set once, while validating
        if self.providers is None:
            object.__setattr__(self, "providers", ["sandbox", "alipay"] if self.provider == "sandbox" else [self.provider])
        if not self.providers or len(set(self.providers)) != len(self.providers):
            raise ValueError("providers: name each wallet once")
        sandbox = "sandbox" in self.providers or self.provider == "sandbox"
        if sandbox and not (self.provider == "sandbox" and set(self.providers) <= {"sandbox", "alipay"}):
            raise ValueError('providers: the sandbox cannot be mixed with real wallets (provider = "sandbox" '
                             'stands in for both WeChat and Alipay)')
        if self.provider not in self.providers:
            object.__setattr__(self, "providers", [self.provider, *self.providers])
        if self.provider == "sandbox":
            return self  # its Alipay is the sandbox's too
        if "alipay" in self.providers:
            if self.alipay is None:
                raise ValueError("provider 'alipay' needs a [payments.alipay] section")
            if self.notify_base_url is None or not self.notify_base_url.startswith("https://"):
                raise ValueError("provider 'alipay' needs notify_base_url, an https:// URL Alipay can reach")
            for name in ("app_private_key_file", "alipay_public_key_file"):
                if not getattr(self.alipay, name).is_file():
                    raise ValueError(f"alipay.{name}: no such file {getattr(self.alipay, name)}")
        if "wechat" in self.providers:
            if self.wechat is None:
                raise ValueError("provider 'wechat' needs a [payments.wechat] section")
            if self.notify_base_url is None or not self.notify_base_url.startswith("https://"):
                raise ValueError("provider 'wechat' needs notify_base_url, an https:// URL WeChat Pay can reach")
            for name in ("private_key_file", "platform_key_file", "apiv3_key_file"):
                if not getattr(self.wechat, name).is_file():
                    raise ValueError(f"wechat.{name}: no such file {getattr(self.wechat, name)}")
        return self


class CentralConfig(PartConfig):
    """The central server (``central_sync/``): many halls sync to it."""

    env_prefix = "CENTRAL_"
    http: HttpConfig
    database_url: str = Field(
        pattern=r"^(sqlite:///|postgresql://)",
        description="sqlite:///path/to/central.db, or postgresql://user@host/db for production",
    )
    bootstrap_user: BootstrapUser | None = None
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    demo: bool = Field(False, description="a demonstration centre (what `hall up` runs): only here may the payment "
                                          "sandbox, which marks orders paid without money, be the provider")
    max_batch_bytes: int = Field(2 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    signing_key_file: RelPath | None = Field(None, description="Ed25519 key that signs kiosk configuration (made if missing)")
    config_valid_days: int = Field(30, ge=1, le=365)
    payments: PaymentsConfig = Field(default_factory=PaymentsConfig, validate_default=True)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    fleet_offline_after_s: float = Field(90.0, ge=5, le=3600, description="the fleet view shows a hall offline when "
                                         "it has not been heard from in this long (three of its status heartbeats)")

    @field_validator("bootstrap_user")
    @classmethod
    def _first_account_is_an_admin(cls, value: BootstrapUser | None) -> BootstrapUser | None:
        # The centre's roles are admin, manager and auditor (docs/roles.md); staff and viewer are
        # the hall console's. A first account of any other role could never add the admin.
        if value is not None and value.role != "admin":
            raise ValueError(f'role "{value.role}" is a hall console role: the centre\'s first account is an '
                             '"admin", who then adds managers and auditors (docs/roles.md)')
        return value

    @field_validator("payments")
    @classmethod
    def _sandbox_only_in_demo(cls, value: PaymentsConfig, info: ValidationInfo) -> PaymentsConfig:
        # Its pay pages (/sandbox/pay/) let anyone who reaches the centre mark an order paid.
        if value.provider == "sandbox" and not info.data.get("demo"):
            raise ValueError('provider "sandbox" takes no money and its pay pages mark any order paid: it runs only '
                             'in a demo centre (demo = true, as `hall up` writes). In production set provider = '
                             '"wechat" with a [payments.wechat] section (docs/payments.md)')
        return value

    @field_validator("database_url")
    @classmethod
    def _absolute_sqlite_path(cls, value: str) -> str:
        # Resolved now, while the folder of the file that names it is known.
        if value.startswith("sqlite:///"):
            return "sqlite:///" + str(relative_to_file(Path(value.removeprefix("sqlite:///"))))
        return value

    def sqlite_path(self) -> Path | None:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None
