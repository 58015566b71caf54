"""The providers' day bills (对账单): their formats, read into one shape for reconciliation.

- **WeChat Pay** (``GET /v3/bill/tradebill?bill_date=YYYY-MM-DD&bill_type=ALL`` → a
  ``download_url``; the file is UTF-8 text): a header line of Chinese column names, one line
  per trade or refund whose every field starts with a backquote (`` ` ``, so a spreadsheet
  keeps long numbers as text), then a summary header (总交易单数,应结订单总金额,...) and its
  line. A refund is a line whose 交易状态 is ``REFUND``; amounts are in yuan.
- **Alipay** (``alipay.data.dataservice.bill.downloadurl.query``, ``bill_type=trade`` → a
  ``bill_download_url``; the file is a zip of GBK CSVs): ``<pid>_<yyyymmdd>_业务明细.csv``
  has ``#`` comment lines around a header (支付宝交易号,商户订单号,业务类型,...) and one line
  per trade (业务类型 交易) or refund (退款), fields padded with tabs; the summary
  (``..._业务明细(汇总).csv``) is beside it. Amounts are in yuan.

The sandboxes write their bills with :func:`wechat_tradebill` and :func:`alipay_bill_zip`,
so the parsers the tests exercise are the ones that read the real files. Nothing here has
been tried on a real provider's file: the formats are those the providers document.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from .provider import ProviderUnavailable


@dataclass(frozen=True)
class BillRow:
    """One line of a provider's day bill: a payment (``kind`` ``pay``) or a refund
    (``refund``, ``amount_fen`` the refund's), by the centre's ``out_trade_no``."""

    out_trade_no: str
    kind: str
    amount_fen: int
    transaction_id: str = ""
    at: str = ""
    """When, as the bill says it (China time, ``YYYY-MM-DD HH:MM:SS``)."""
    out_refund_no: str = ""
    """A refund's own number (WeChat's 商户退款单号, Alipay's 退款批次号/请求号); empty for a payment."""


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def fen_of(text: Any) -> int | None:
    """``"12.30"`` → 1230; None for anything that is not a non-negative amount in yuan."""
    try:
        value = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        return None
    return int(value * 100)


class BillUnreadable(ProviderUnavailable):
    """A bill that is not in the provider's format: nothing is reconciled from it."""


# -- WeChat Pay's tradebill ------------------------------------------------------------------

WECHAT_COLUMNS = ["交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型",
                  "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额",
                  "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额",
                  "费率备注"]
WECHAT_SUMMARY = ["总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额"]


def _bq(values: Iterable[str]) -> str:
    return ",".join("`" + v for v in values)


def wechat_tradebill(rows: list[BillRow], *, appid: str, mchid: str) -> str:
    """A ``bill_type=ALL`` tradebill of ``rows``, as WeChat Pay writes it."""
    lines = [",".join(WECHAT_COLUMNS)]
    pays = [r for r in rows if r.kind == "pay"]
    refunds = [r for r in rows if r.kind == "refund"]
    for r in rows:
        pay = r.kind == "pay"
        fen = yuan(r.amount_fen)
        lines.append(_bq([r.at, appid, mchid, "0", "", r.transaction_id, r.out_trade_no, "sandbox-payer", "NATIVE",
                          "SUCCESS" if pay else "REFUND", "OTHERS", "CNY", fen if pay else "0.00", "0.00",
                          "" if pay else "5030" + r.transaction_id[-20:], "" if pay else (r.out_refund_no or r.out_trade_no + "R"),
                          "0.00" if pay else fen, "0.00", "" if pay else "ORIGINAL", "" if pay else "SUCCESS",
                          "物业缴费", "", "0.00000", "0.60%", fen if pay else "0.00", "0.00" if pay else fen, ""]))
    lines.append(",".join(WECHAT_SUMMARY))
    paid, refunded = sum(r.amount_fen for r in pays), sum(r.amount_fen for r in refunds)
    lines.append(_bq([str(len(rows)), yuan(paid), yuan(refunded), "0.00", "0.00000", yuan(paid), yuan(refunded)]))
    return "\r\n".join(lines) + "\r\n"


def parse_wechat_tradebill(text: str) -> list[BillRow]:
    """The trades and refunds of a WeChat Pay tradebill; :class:`BillUnreadable` if the
    header is not WeChat's or a line's amount is not an amount. The summary's count and
    total are checked against the lines (a cut-off file is refused, not half believed)."""
    lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if not lines:
        raise BillUnreadable("wechat bill: empty")
    header = [h.strip() for h in lines[0].split(",")]
    need = ("交易时间", "微信订单号", "商户订单号", "交易状态", "应结订单金额", "退款金额")
    if not all(h in header for h in need):
        raise BillUnreadable("wechat bill: not a tradebill header")
    col = {h: i for i, h in enumerate(header)}
    rows: list[BillRow] = []
    summary: list[str] | None = None
    for n, line in enumerate(lines[1:], start=2):
        if line.startswith("总交易单数"):
            summary = [f.strip().lstrip("`") for f in lines[n].split(",")] if n < len(lines) else None
            break
        fields = [f.strip().lstrip("`") for f in next(csv.reader([line]))]
        if len(fields) < len(header):
            raise BillUnreadable(f"wechat bill line {n}: {len(fields)} fields, the header has {len(header)}")
        refund = fields[col["交易状态"]] == "REFUND"
        fen = fen_of(fields[col["退款金额" if refund else "应结订单金额"]])
        if fen is None:
            raise BillUnreadable(f"wechat bill line {n}: the amount is not in yuan")
        rows.append(BillRow(fields[col["商户订单号"]], "refund" if refund else "pay", fen, fields[col["微信订单号"]],
                            fields[col["交易时间"]], fields[col["商户退款单号"]] if refund and "商户退款单号" in col else ""))
    if summary is None or len(summary) < 2 or summary[0] != str(len(rows)):
        raise BillUnreadable("wechat bill: the summary is missing or does not count the lines")
    if fen_of(summary[1]) != sum(r.amount_fen for r in rows if r.kind == "pay"):
        raise BillUnreadable("wechat bill: the summary's total is not the lines' sum")
    return rows


# -- Alipay's trade bill ---------------------------------------------------------------------

ALIPAY_COLUMNS = ["支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称", "操作员",
                  "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）",
                  "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号",
                  "服务费（元）", "分润（元）", "备注"]


def alipay_bill_zip(rows: list[BillRow], *, seller_id: str, day: str, exported: str) -> bytes:
    """The zip Alipay's ``bill_download_url`` serves for ``bill_type=trade``: the detail CSV
    and its summary, GBK, as Alipay writes them (refund amounts negative)."""
    compact = day.replace("-", "")
    y, m, d = day.split("-")
    out = io.StringIO()
    out.write("#支付宝业务明细查询\r\n")
    out.write(f"#账号：[{seller_id}0156]\r\n")
    out.write(f"#起始日期：[{y}年{m}月{d}日 00:00:00]   终止日期：[{y}年{m}月{d}日 23:59:59]\r\n")
    out.write("#-----------------------------------------业务明细列表----------------------------------------\r\n")
    out.write(",".join(ALIPAY_COLUMNS) + "\r\n")
    for r in rows:
        pay = r.kind == "pay"
        fen = yuan(r.amount_fen) if pay else "-" + yuan(r.amount_fen)
        fields = [r.transaction_id, r.out_trade_no, "交易" if pay else "退款", "物业缴费", r.at, r.at, "", "", "", "",
                  "san***@sandbox", fen, fen, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00",
                  "" if pay else (r.out_refund_no or r.out_trade_no + "R"), "0.00", "0.00", ""]
        out.write(",".join(f + "\t" for f in fields) + "\r\n")
    pays = [r for r in rows if r.kind == "pay"]
    refunds = [r for r in rows if r.kind == "refund"]
    out.write("#-----------------------------------------业务明细列表结束------------------------------------\r\n")
    out.write(f"#交易合计：{len(pays)}笔，商家实收共{yuan(sum(r.amount_fen for r in pays))}元，商家优惠共0.00元\r\n")
    out.write(f"#退款合计：{len(refunds)}笔，商家实收退款共-{yuan(sum(r.amount_fen for r in refunds))}元，商家优惠退款共0.00元\r\n")
    out.write(f"#导出时间：[{exported}]\r\n")
    summary = (f"#支付宝业务汇总查询\r\n#账号：[{seller_id}0156]\r\n"
               "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）\r\n"
               f"合计,,{len(pays)},{len(refunds)},{yuan(sum(r.amount_fen for r in pays))},"
               f"{yuan(sum(r.amount_fen for r in pays))}\r\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{seller_id}0156_{compact}_业务明细.csv", out.getvalue().encode("gbk"))
        z.writestr(f"{seller_id}0156_{compact}_业务明细(汇总).csv", summary.encode("gbk"))
    return buf.getvalue()


def parse_alipay_bill_zip(data: bytes) -> list[BillRow]:
    """The trades and refunds of an Alipay trade bill zip (the detail file, ``业务明细.csv``
    and not its summary); :class:`BillUnreadable` if it is not one. The ``#交易合计`` line's
    count is checked against the lines."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = [n for n in z.namelist() if n.endswith("业务明细.csv")]
            if len(names) != 1:
                raise BillUnreadable("alipay bill: no single 业务明细.csv in the zip")
            text = z.read(names[0]).decode("gbk")
    except (zipfile.BadZipFile, UnicodeDecodeError, KeyError) as exc:
        raise BillUnreadable(f"alipay bill: {exc}") from None
    rows: list[BillRow] = []
    col: dict[str, int] | None = None
    declared: int | None = None
    for n, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            if line.startswith("#交易合计："):
                count = line.removeprefix("#交易合计：").split("笔", 1)[0]
                declared = int(count) if count.isdigit() else None
            continue
        if not line.strip():
            continue
        fields = [f.strip() for f in next(csv.reader([line]))]
        if col is None:
            col = {h: i for i, h in enumerate(fields)}
            if not {"支付宝交易号", "商户订单号", "业务类型", "订单金额（元）"} <= col.keys():
                raise BillUnreadable("alipay bill: not a 业务明细 header")
            continue
        kind = {"交易": "pay", "退款": "refund"}.get(fields[col["业务类型"]])
        if kind is None:
            continue  # other business types (e.g. 冻结) are not payments
        fen = fen_of(fields[col["订单金额（元）"]].lstrip("-"))
        if fen is None:
            raise BillUnreadable(f"alipay bill line {n}: the amount is not in yuan")
        refund_no = fields[col["退款批次号/请求号"]] if kind == "refund" and "退款批次号/请求号" in col else ""
        rows.append(BillRow(fields[col["商户订单号"]], kind, fen, fields[col["支付宝交易号"]],
                            fields[col.get("完成时间", col["支付宝交易号"])], refund_no))
    if col is None or declared != sum(1 for r in rows if r.kind == "pay"):
        raise BillUnreadable("alipay bill: the 交易合计 line is missing or does not count the lines")
    return rows
