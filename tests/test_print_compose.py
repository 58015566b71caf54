"""Printer profiles, templates as data, and the bytes composed from them, read back with the
project's ESC/POS parser and renderer: GB18030 text decoded, sizes, QR codes scanned with
pyzbar from the rendered paper, raster-only bitmap mode, money and wrapping, bad fields and
bad template files refused with the key named."""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pyzbar.pyzbar import decode as zbar

from edge_agent.printing.compose import columns, compose, printable
from edge_agent.printing.profiles import PROFILE_DIR, load_profiles
from edge_agent.printing.templates import DEFAULT_TEMPLATES, load_templates, yuan
from hall_common.errors import ConfigError
from simulators.escpos_parse import QR, Cut, Raster, Text, parse, text_lines
from simulators.escpos_render import render

DOCS = Path(__file__).resolve().parent.parent / "docs" / "screens"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
HALL = "幸福里物业客户服务中心"

TICKET = {"number": "A012", "service": "手续办理", "waiting_ahead": 3, "follow_url": "http://hall.example/q/A012",
          "hours_line": "服务时间 08:30-18:00"}
COMPLAINT = {"tracking_no": "XFL-2611-0042", "kind": "报修", "category": "电梯", "deadline": "1 个工作小时内首次回复",
             "track_url": "http://hall.example/t/XFL-2611-0042"}
PAYMENT = {"room": "3 栋 2 单元 **01", "reference": "4200002611242093", "paid_at": "2026-11-24 09:28",
           "items": [{"name": "物业服务费", "period": "2026 年 10-12 月", "amount_fen": 86250},
                     {"name": "车位管理费", "period": "2026 年 11 月", "amount_fen": 1250},
                     {"name": "装修垃圾清运费（按建筑面积计收，含楼道保洁）", "period": "一次性", "amount_fen": 30000}],
           "total_fen": 117500}
HANDOVER = {"label": "早班", "staff": "张三、李四", "opened_at": "2026-11-24 08:00", "closed_at": "2026-11-24 16:00",
            "closed_by": "staff",
            "sections": [{"title": "未解除告警（1）", "lines": ["[重要] 打印机 printer-1 缺纸 · 自 11-24 15:40"]},
                         {"title": "未办结报事投诉（1）",
                          "lines": ["T01 261124 001 7 [一般] 报修·公共设施 · 已受理登记，等待工作人员接单，已逾期 · 自 11-24 09:00 · "
                                    "期限 11-24 10:00"]},
                         {"title": "钥匙借出未还（0）", "lines": []},
                         {"title": "待取快递/邮件", "lines": [], "empty": "暂无登记簿"}],
            "takings": [{"name": "本班扫码收款（系统）", "amount_fen": 34420},
                        {"name": "现金应收（按收据）", "amount_fen": 12050}, {"name": "现金实点", "amount_fen": 10000}],
            "difference": "短款 ¥20.50", "notes": "3 栋电梯明早 9 点维保\n已张贴公告", "received": "王五（2026-11-24 16:05 签收）"}
SLIP = {"title": "快递取件单", "serial": "KD261124007", "code": "042917", "code_label": "取件码",
        "body": "收件：2-1-301 王* 139****1111\n快递：顺丰 SF1234567890\n货架：A-03\n到件：2026-11-24 09:12",
        "footer": "凭取件码到服务台取件"}
REFUND = {"room": "3 栋 2 单元 **01", "wallet": "支付宝", "reference": "HP20261124092800a1b2c3d4e5f6a7",
          "refund_no": "RM20261125101500f6e5d4c3b2a1f0", "paid_fen": 87500, "refund_fen": 1250,
          "reason": "车位管理费本月已按月卡收取，重复计费退回", "status": "退款处理中",
          "status_en": "Refund in progress: the money is on its way back", "asked_at": "2026-11-25 10:15",
          "items": [{"name": "车位管理费", "period": "2026 年 11 月", "amount_fen": 1250}],
          "reopened": "以上项目退款后恢复为待缴，请重新缴纳"}
FIELDS = {"queue_ticket": TICKET, "complaint_receipt": COMPLAINT, "payment_receipt": PAYMENT, "handover_sheet": HANDOVER, "register_slip": SLIP,
          "refund_slip": REFUND}


@pytest.fixture(scope="module")
def profiles():
    return load_profiles()


@pytest.fixture(scope="module")
def templates():
    return load_templates()


def job(templates, profiles, kind="queue_ticket", profile="gp-80250", fields=None, **kw) -> bytes:
    return compose(templates, kind, fields or FIELDS[kind], profiles[profile], hall_name=HALL, job_no="000042",
                   now=NOW, **kw)


def scanned(data: bytes, paper_mm: int) -> list[bytes]:
    return [s.data for s in zbar(render(data, paper_mm=paper_mm))]


def test_every_profile_and_the_default_templates_load(profiles, templates):
    assert {"xprinter-xp58", "gp-80250", "epson-tm-t82", "generic-58-bitmap", "generic-80-bitmap"} <= set(profiles)
    assert {p.mode for p in profiles.values()} == {"text", "bitmap"}
    assert {p.paper_mm for p in profiles.values()} == {58, 80}
    assert templates.kinds == {"queue_ticket", "complaint_receipt", "payment_receipt", "disclosure", "handover_sheet", "register_slip",
                               "refund_slip"}


def test_text_mode_ticket_decodes_back_from_gb18030(templates, profiles):
    data = job(templates, profiles)
    lines = text_lines(data)
    assert HALL in lines and "您前面还有 3 人等候" in lines and "取号时间 2026-11-24 09:30" in lines
    assert "请留意叫号，过号请重新取号" in lines
    assert data[:2] == b"\x1b@" and b"\x1c\x26" in data  # initialise, then Chinese character mode
    assert HALL.encode("gb18030") in data
    number = [e for e in parse(data) if isinstance(e, Text) and e.text == "A012"]
    assert number and number[0].height >= 3 and number[0].bold
    elements = parse(data)
    assert [e.data for e in elements if isinstance(e, QR)] == [TICKET["follow_url"]]
    assert isinstance(elements[-1], Cut)
    assert scanned(data, 80) == [TICKET["follow_url"].encode()]
    assert "优先窗口 · 请出示相关证件" not in lines  # only on priority tickets
    assert "优先窗口 · 请出示相关证件" in text_lines(job(templates, profiles, fields={**TICKET, "priority": True}))


def test_bitmap_mode_is_pictures_only_and_the_qr_still_scans(templates, profiles):
    data = job(templates, profiles, profile="generic-58-bitmap")
    elements = parse(data)
    assert [type(e) for e in elements if not isinstance(e, (Raster, Cut))] in ([], [type(elements[-2])])
    assert not [e for e in elements if isinstance(e, Text) and e.text.strip()]
    rasters = [e for e in elements if isinstance(e, Raster)]
    assert rasters and {r.width_bytes * 8 for r in rasters} == {384}
    assert isinstance(elements[-1], Cut)
    assert HALL.encode("gb18030") not in data
    assert scanned(data, 58) == [TICKET["follow_url"].encode()]


@pytest.mark.parametrize("profile", ["xprinter-xp58", "generic-58-bitmap"])
def test_complaint_receipt_carries_its_number_promise_and_qr(templates, profiles, profile):
    data = job(templates, profiles, "complaint_receipt", profile)
    assert scanned(data, 58) == [COMPLAINT["track_url"].encode()]
    if profiles[profile].mode == "text":
        lines = text_lines(data)
        assert "XFL-2611-0042" in lines and "承诺：1 个工作小时内首次回复" in lines and "类型：报修 · 电梯" in lines


def test_payment_receipt_amounts_total_and_wrapping(templates, profiles):
    assert (yuan(1250), yuan(86250), yuan(117500), yuan(5)) == ("¥12.50", "¥862.50", "¥1,175.00", "¥0.05")
    lines = text_lines(job(templates, profiles, "payment_receipt", "xprinter-xp58"))
    # On paper the yen sign is the full-width one every GB font has (¥ U+00A5 has only a
    # four-byte GB18030 code). 58 mm: an item and its amount share a line when they fit...
    assert "车位管理费 2026 年 11 月 ￥12.50" in lines
    # ...else the name stands alone and the period goes beside the amount.
    first = lines.index("物业服务费")
    assert lines[first + 1] == "2026 年 10-12 月        ￥862.50"
    assert "合计 ￥1,175.00" in lines and "支付单号：4200002611242093" in lines
    assert "本凭证不作为发票" in lines and "打印 2026-11-24 09:30 No.000042" in lines
    # The long item wraps without losing a character, and its amount stands on the right.
    long_name = "装修垃圾清运费（按建筑面积计收，含楼道保洁）"
    start = next(i for i, x in enumerate(lines) if x.startswith("装修"))
    assert "".join(lines[start:start + 2]) == long_name
    assert lines[start + 2].startswith("一次性") and lines[start + 2].endswith("￥300.00")
    # 80 mm: every item on one line, amounts flush right.
    wide = text_lines(job(templates, profiles, "payment_receipt", "gp-80250"))
    assert "物业服务费 2026 年 10-12 月" + " " * 13 + "￥862.50" in wide
    assert all(columns(x) == 48 for x in wide if x.endswith("0") and "￥" in x and not x.startswith("合计"))


@pytest.mark.parametrize("kind", ["queue_ticket", "complaint_receipt", "payment_receipt", "disclosure", "handover_sheet", "register_slip",
                                  "refund_slip"])
def test_58mm_text_lines_never_pass_32_columns(templates, profiles, kind):
    """A Chinese (double-byte) character takes two columns, ``·`` included, and a line of
    size n takes n times its width: no line may be wider than the paper, or the printer
    breaks it where it likes."""
    fields = FIELDS.get(kind) or {"title": "关于二〇二六年度公共收益收支情况的公示（第四季度）", "category": "公共收益",
                                  "effective_date": "2026-11-01", "version": 2, "body": "收入 · 支出" * 40}
    data = job(templates, profiles, kind, "xprinter-xp58", fields=fields, reprint=True, test=True)
    texts = [e for e in parse(data) if isinstance(e, Text)]
    assert texts and all(columns(e.text) * e.width <= 32 for e in texts)


def test_large_type_shrinks_rather_than_break_a_number_but_a_headline_wraps(templates, profiles):
    big = {**PAYMENT, "items": [{"name": "车位费", "period": "十年", "amount_fen": 99_999_999}],
           "total_fen": 99_999_999}
    total = [e for e in parse(job(templates, profiles, "payment_receipt", "xprinter-xp58", fields=big))
             if isinstance(e, Text) and e.text.startswith("合计")]
    assert [(e.text, e.width) for e in total] == [("合计 ￥999,999.99", 1)]  # 17 columns: too wide at size 2
    title = "关于二〇二六年度公共收益收支情况的公示"
    data = job(templates, profiles, "disclosure", "xprinter-xp58", fields={
        "title": title, "category": "公共收益", "effective_date": "2026-11-01", "version": 2, "body": "见附件"})
    head = [e for e in parse(data) if isinstance(e, Text) and e.width == 2]
    assert "".join(e.text for e in head) == title and len(head) == 3


def test_printable_text_keeps_what_a_gb_font_has():
    assert printable("缴费 ¥12.50 · 第①期") == "缴费 ￥12.50 · 第①期"
    assert printable("A\x1b@B\x1dV") == "A@BV"  # never a command inside a field
    assert printable("笑😀") == "笑?"  # no glyph on the printer: a question mark, not garbage
    assert printable("㐀") == "㐀"  # CJK Extension A is part of every GB18030 font
    assert printable("¥1", "gbk") == "￥1"


def test_a_gbk_printer_prints_money_and_rare_characters(templates, profiles):
    gbk = profiles["xprinter-xp58"].model_copy(update={"encoding": "gbk"})
    data = compose(templates, "payment_receipt", {**PAYMENT, "room": "𠀀栋 **01"}, gbk, hall_name=HALL,
                   job_no="1", now=NOW)
    lines = text_lines(data)
    assert "房号：?栋 **01" in lines and "合计 ￥1,175.00" in lines


@pytest.mark.parametrize("profile", ["xprinter-xp58", "gp-80250"])
def test_handover_sheet_in_gb18030_text_mode(templates, profiles, profile):
    """Every section under its bold title, each item after a bullet (wrapped, nothing lost),
    an empty one saying so, the takings with amounts on the right, the notes and both names."""
    data = job(templates, profiles, "handover_sheet", profile)
    lines = text_lines(data)
    assert HANDOVER["label"].encode("gb18030") in data and data[:2] == b"\x1b@" and b"\x1c\x26" in data
    assert "交接班记录" in lines and "班次：早班" in lines and "当班：张三、李四" in lines
    assert "开班：2026-11-24 08:00" in lines and "交班：2026-11-24 16:00" in lines
    titles = [e.text for e in parse(data) if isinstance(e, Text) and e.bold and e.text.startswith("【")]
    assert titles == ["【未解除告警（1）】", "【未办结报事投诉（1）】", "【钥匙借出未还（0）】", "【待取快递/邮件】"]
    joined = "".join(lines)
    for section in HANDOVER["sections"]:
        for line in section["lines"]:
            assert "· " + line in joined  # wrapped over several printed lines, not a character lost
    after = lines.index("【钥匙借出未还（0）】")
    assert lines[after + 1] == "  无" and lines[lines.index("【待取快递/邮件】") + 1] == "  暂无登记簿"
    width = profiles[profile].chars_per_line
    assert "现金实点" + " " * (width - columns("现金实点") - columns("￥100.00")) + "￥100.00" in lines
    assert "现金差额：短款 ￥20.50" in lines and "3 栋电梯明早 9 点维保" in lines and "已张贴公告" in lines
    assert "交班人：staff" in lines and "接班人：王五（2026-11-24 16:05 签收）" in joined
    assert isinstance(parse(data)[-1], Cut)


def test_handover_sheet_in_bitmap_mode_is_one_picture(templates, profiles):
    data = job(templates, profiles, "handover_sheet", "generic-58-bitmap")
    elements = parse(data)
    assert any(isinstance(e, Raster) for e in elements) and isinstance(elements[-1], Cut)
    assert not [e for e in elements if isinstance(e, Text) and e.text.strip()]
    assert "张三".encode("gb18030") not in data
    img = render(data, paper_mm=58)
    assert img.height > 1200  # every section drawn, not only the head


@pytest.mark.parametrize("change, key", [
    ({"sections": []}, "sections"),
    ({"sections": [{"title": "告警", "lines": ["第一行\x1b@"]}]}, "sections.0.lines"),
    ({"sections": [{"title": "告警", "lines": ["字" * 301]}]}, "sections.0.lines"),
    ({"sections": [{"title": "", "lines": []}]}, "sections.0.title"),
    ({"takings": [{"name": "现金实点", "amount_fen": -1}]}, "takings.0.amount_fen"),
    ({"staff": ""}, "staff"),
    ({"notes": "字" * 1001}, "notes"),
], ids=["no-sections", "control-character", "long-line", "no-title", "negative", "no-staff", "long-notes"])
def test_bad_handover_sheet_fields_name_the_field(templates, change, key):
    with pytest.raises(ValueError, match=rf"^fields\.{re.escape(key)}: "):
        templates.validate("handover_sheet", {**HANDOVER, **change})


def test_a_list_block_must_name_a_list_of_its_kind(tmp_path):
    path = copy_templates(tmp_path, 'sections = "sections"', 'sections = "takings"')
    with pytest.raises(ConfigError, match=r"templates\.toml: handover_sheet\.\d+\.sections: handover_sheet has no list "
                                          r"of sections named 'takings'"):
        load_templates(path)


def test_a_long_follow_url_still_fits_and_scans(templates, profiles):
    url = "https://hall.example/q/A012?" + "x" * 260
    for profile in ("xprinter-xp58", "generic-58-bitmap"):
        data = job(templates, profiles, fields={**TICKET, "follow_url": url}, profile=profile)
        qr = [e for e in parse(data) if isinstance(e, QR)]
        assert not qr or qr[0].module < 6  # made smaller to fit 384 dots
        assert scanned(data, 58) == [url.encode()]


def test_python_escpos_prints_nothing(templates, profiles, capfd):
    for name in profiles:
        for kind in FIELDS:
            job(templates, profiles, kind, name, reprint=True)
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize("profile", ["gp-80250", "generic-58-bitmap"])
def test_a_parcel_label_shows_its_pickup_code_big_and_as_a_qr_that_scans(templates, profiles, profile):
    data = job(templates, profiles, "register_slip", profile)
    assert scanned(data, profiles[profile].paper_mm) == [b"042917"]
    if profiles[profile].mode == "text":
        big = [e for e in parse(data) if isinstance(e, Text) and e.text.strip() == "042917"]
        assert big and big[0].width == 4
        assert "凭取件码到服务台取件" in text_lines(data) and "货架：A-03" in text_lines(data)
    slip = {k: v for k, v in SLIP.items() if k not in ("code", "code_label")}
    assert scanned(job(templates, profiles, "register_slip", profile, fields=slip), profiles[profile].paper_mm) == []


def test_disclosure_body_lines_are_all_printed(templates, profiles):
    body = "一、电梯维保单位：某某电梯工程有限公司\n资质：特种设备安装改造维修许可证\n联系电话：400-000-0000"
    data = job(templates, profiles, "disclosure", fields={"title": "电梯维保单位公示", "category": "维保单位",
                                                          "effective_date": "2026-11-01", "version": 3, "body": body})
    joined = "".join(text_lines(data))
    for line in body.splitlines():
        assert line in joined
    assert "生效日期 2026-11-01 · 第 3 版" in text_lines(data)


def test_reprint_and_test_marks(templates, profiles):
    assert "重打 REPRINT" in text_lines(job(templates, profiles, reprint=True))
    assert "测试打印 TEST PRINT" in text_lines(job(templates, profiles, test=True))
    assert "重打 REPRINT" not in text_lines(job(templates, profiles))


@pytest.mark.parametrize("fields, key", [
    ({**TICKET, "waiting_ahead": -1}, "waiting_ahead"),
    ({**TICKET, "colour": "red"}, "colour"),
    ({k: v for k, v in TICKET.items() if k != "number"}, "number"),
    ({**TICKET, "service": "手续\x1b@办理"}, "service"),
    ({**TICKET, "number": "A" * 17}, "number"),
], ids=["negative", "unknown", "missing", "control-character", "too-long"])
def test_bad_ticket_fields_name_the_field(templates, fields, key):
    with pytest.raises(ValueError, match=rf"^fields\.{key}: "):
        templates.validate("queue_ticket", fields)


def test_bad_fields_are_refused_by_compose_too(templates, profiles):
    with pytest.raises(ValueError, match=r"fields\.items\.0\.amount_fen"):
        job(templates, profiles, "payment_receipt",
            fields={**PAYMENT, "items": [{"name": "x", "amount_fen": -5}], "total_fen": -5})
    ticket = templates.validate("queue_ticket", TICKET)
    assert text_lines(compose(templates, "queue_ticket", ticket, profiles["gp-80250"], hall_name=HALL, job_no="1",
                              now=NOW)) == text_lines(job(templates, profiles))
    with pytest.raises(ValueError, match="tracking_no"):  # a model of another kind
        compose(templates, "complaint_receipt", ticket, profiles["gp-80250"], hall_name=HALL, job_no="1")


def test_a_payment_total_that_is_not_the_sum_is_refused(templates):
    with pytest.raises(ValueError, match="total_fen"):
        templates.validate("payment_receipt", {**PAYMENT, "total_fen": 1})


def test_an_overlong_disclosure_body_is_refused(templates):
    disclosure = {"title": "t", "category": "c", "effective_date": "d", "version": 1}
    with pytest.raises(ValueError, match=r"^fields\.body: .*4000"):
        templates.validate("disclosure", {**disclosure, "body": "字" * 5000})
    assert templates.validate("disclosure", {**disclosure, "body": "第一行\n第二行"}).body == "第一行\n第二行"
    with pytest.raises(ValueError, match=r"^fields\.title: control"):
        templates.validate("disclosure", {**disclosure, "title": "第一行\n第二行", "body": "b"})


def copy_templates(tmp_path: Path, old: str, new: str) -> Path:
    shutil.copy(DEFAULT_TEMPLATES.parent / "logo.png", tmp_path / "logo.png")
    text = DEFAULT_TEMPLATES.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "templates.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize("old, new, message", [
    ('text = "您前面还有 {waiting_ahead} 人等候"', 'text = "您前面还有 {wating_ahead} 人等候"',
     r"queue_ticket\.\d+: \{wating_ahead\} is not a field of queue_ticket"),
    ('text = "{tracking_no}"', 'text = "{tracking_no.__class__}"', r"complaint_receipt\.\d+: .*not a plain"),
    ("\nrule = true", '\nbarcode = "x"', r"queue_ticket\.\d+\.barcode: Extra inputs"),
    ('\nlogo = "logo.png"', '\nlogo = "missing.png"', r"queue_ticket\.0\.logo: no file missing.png"),
    ('size = 4', 'size = 9', r"queue_ticket\.\d+\.size: characters"),
    ('qr = "{follow_url}"\nsize = 6', 'qr = "{follow_url}"\nsize = 17', r"queue_ticket\.\d+\.size"),
    ("[[disclosure]]", "[[notice]]", r"notice: no such template"),
], ids=["typo", "attribute", "unknown-block", "missing-logo", "size", "qr-size", "unknown-template"])
def test_a_bad_template_file_names_the_file_template_and_key(tmp_path, old, new, message):
    with pytest.raises(ConfigError, match=r"templates\.toml: " + message):
        load_templates(copy_templates(tmp_path, old, new))


def test_a_template_file_must_have_every_kind_as_blocks(tmp_path):
    path = copy_templates(tmp_path, "[[disclosure]]", "[[disclosure]]")
    text = path.read_text(encoding="utf-8")
    without = text[:text.index("[[disclosure]]")]
    path.write_text(without, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"templates\.toml: disclosure: the template is missing"):
        load_templates(path)
    path.write_text(without + '[disclosure]\ntext = "{hall_name}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"templates\.toml: disclosure: write the template as blocks"):
        load_templates(path)


def test_a_big_qr_module_is_allowed(tmp_path, templates, profiles):
    path = copy_templates(tmp_path, 'qr = "{follow_url}"\nsize = 6', 'qr = "{follow_url}"\nsize = 12')
    data = compose(load_templates(path), "queue_ticket", TICKET, profiles["gp-80250"], hall_name=HALL, job_no="1")
    assert [e.module for e in parse(data) if isinstance(e, QR)] == [12]


def test_a_bad_profile_names_the_file_and_key(tmp_path):
    for p in PROFILE_DIR.glob("*.toml"):
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "gp-80250.toml").write_text(
        (PROFILE_DIR / "gp-80250.toml").read_text(encoding="utf-8").replace('mode = "text"', 'mode = "colour"'))
    with pytest.raises(ConfigError, match=r"gp-80250\.toml: mode"):
        load_profiles(tmp_path)
    good = (PROFILE_DIR / "gp-80250.toml").read_text(encoding="utf-8")
    (tmp_path / "gp-80250.toml").write_text(good + "width = 3\n")
    with pytest.raises(ConfigError, match=r"gp-80250\.toml: width: Extra inputs are not permitted"):
        load_profiles(tmp_path)
    (tmp_path / "gp-80250.toml").write_text(good.replace('escpos_profile = "TM-T20II"', 'escpos_profile = "TM-X"'))
    with pytest.raises(ConfigError, match=r"gp-80250\.toml: escpos_profile: python-escpos has no profile 'TM-X'"):
        load_profiles(tmp_path)


@pytest.mark.parametrize("kind", ["queue_ticket", "complaint_receipt", "payment_receipt", "handover_sheet", "register_slip",
                                  "refund_slip"])
@pytest.mark.parametrize("profile", ["gp-80250", "generic-58-bitmap"], ids=["text", "bitmap"])
def test_paper_pictures_for_a_person_to_look_at(templates, profiles, tmp_path, kind, profile):
    """The printouts as paper, in both Chinese modes; ``UPDATE_DOC_SCREENS=1`` refreshes the
    copies in docs/screens that the README shows."""
    data = job(templates, profiles, kind, profile)
    img = render(data, paper_mm=profiles[profile].paper_mm)
    assert img.width == profiles[profile].dots and img.height > 400
    mode = profiles[profile].mode
    img.save(tmp_path / f"print-{kind}-{mode}.png")
    if os.environ.get("UPDATE_DOC_SCREENS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        img.save(DOCS / f"print-{kind}-{mode}.png", optimize=True)


def test_sections_wrap_between_words_not_inside_a_time_or_number():
    from edge_agent.printing.compose import wrap_words

    assert wrap_words("· [重要] 打印机 printer-1 缺纸 · 自 11-24 15:40", 32) == [
        "· [重要] 打印机 printer-1 缺纸 ", "· 自 11-24 15:40"]
    assert "".join(wrap_words("单号 " + "8" * 40 + " 完", 32)) == "单号 " + "8" * 40 + " 完"  # too long: by character
    assert all(columns(x) <= 32 for x in wrap_words("单号 " + "8" * 40 + " 完", 32))
    assert wrap_words("", 32) == [""]
