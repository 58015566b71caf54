"""The front desk's registers in headless Chromium on a real edge agent (mini hall, real
broker, a virtual ESC/POS printer at the counter): register a renovation (refused first
without the notice ticked), lend and return a key, receive a parcel, print its label and
hand it over by its code (a second pickup refused), log a found item with a photo, release
goods at the gate. Screenshots go to var/screenshots/registers/ for a person to look at."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image

from simulators.escpos_parse import QR, parse, text_lines

from .conftest import wait_for
from .helpers.edge_db import rows
from .screens import staff_page

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "registers"
TZ = ZoneInfo("Asia/Shanghai")


def submit(page, selector: str, wait: str) -> None:
    """Click a form's button and wait for the page it leads to."""
    page.click(selector)
    page.wait_for_selector(wait)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def keep_paper(job, name: str) -> None:
    """The virtual printer's picture of a slip, beside the screenshots."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(job.png, SHOTS / f"{name}.png")


def fill(page, prefix: str, values: dict[str, str]) -> None:
    for name, value in values.items():
        selector = f"#{prefix}-{name}"
        if page.get_attribute(selector, "type") == "checkbox":
            page.check(selector)
        elif page.evaluate(f"document.querySelector('{selector}').tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)


def test_a_clerk_goes_through_every_register(mini, browser, tmp_path):
    printer = mini.printer()
    agent = mini.edge(printers=[{"id": "counter-1", "host": "127.0.0.1", "port": printer.port, "timeout": 1}])
    console = mini.console(agent)
    today = datetime.now(TZ).date()
    page = staff_page(browser, console.url + "registers/")
    assert "钥匙借用" in page.inner_text(".reg-cards") and "借出中 0" in page.inner_text(".reg-cards")
    shot(page, "0-registers")

    # 装修登记: refused without the notice, then registered, then an inspection.
    submit(page, ".reg-card[data-register='renovations']", "form.new-entry")
    fill(page, "new", {"room": "3-1-1201", "owner_name": "张三丰", "owner_phone": "13812345678", "contractor": "好家装饰",
                       "foreman_name": "赵六", "foreman_phone": "13700001111", "works": "更换地板；卫生间重做防水",
                       "end_date": (today + timedelta(days=20)).isoformat(), "deposit_fen": "2000"})
    submit(page, "form.new-entry button", ".refused")
    assert "请确认后勾选" in page.inner_text(".refused") and page.input_value("#new-room") == "3-1-1201"
    assert rows(agent, "SELECT count(*) AS n FROM register_entries")[0]["n"] == 0
    shot(page, "1-renovation-refused")
    page.check("#new-notice_ack")
    submit(page, "form.new-entry button", "h2:has-text('ZX')")
    assert "13812345678" in page.inner_text("table.reg-entry") and "￥2,000.00" in page.inner_text("table.reg-entry").replace("¥", "￥")
    fill(page, "inspect", {"inspector": "钱工", "result": "ok", "finding": "未动承重墙，垃圾已清运"})
    submit(page, "#step-inspect button", "tr.step-inspect")
    shot(page, "2-renovation")

    # 钥匙: lent with its slip, then returned.
    page.goto(console.url + "registers/keys/")
    fill(page, "new", {"key": "B2 水泵房钥匙", "name": "李四", "phone": "13912345678", "id_checked": "on",
                       "id_type": "id_card", "id_last4": "123X", "purpose": "维修水泵"})
    submit(page, "form.new-entry button", "h2:has-text('YS')")
    submit(page, "form.slip button", "text=凭条已送 counter-1")
    wait_for(lambda: len(printer.printed_jobs()) == 1)
    assert any("钥匙借用凭条" in line for line in text_lines(printer.printed_jobs()[0].data))
    assert not any("13912345678" in line for line in text_lines(printer.printed_jobs()[0].data))  # masked on paper
    keep_paper(printer.printed_jobs()[0], "3-key-slip")
    shot(page, "3-key-out")
    fill(page, "return", {"returned_by": "李四", "condition": "完好"})
    submit(page, "#step-return button", "text=已归还 · returned")
    assert page.query_selector("#step-return") is None  # nothing more to do with it
    shot(page, "4-key-returned")

    # 快递: received, label printed (the code as text and QR), handed over by the code.
    page.goto(console.url + "registers/parcels/")
    fill(page, "new", {"kind": "parcel", "carrier": "顺丰", "tracking_no": "SF1234567890", "room": "2-1-301",
                       "name": "王五", "phone": "13900001111", "shelf": "A-03"})
    submit(page, "form.new-entry button", "h2:has-text('KD')")
    code = page.inner_text(".reg-code").strip()
    assert len(code) == 6 and code.isdigit()
    submit(page, "form.slip button", "text=凭条已送 counter-1")
    wait_for(lambda: len(printer.printed_jobs()) == 2)
    label = printer.printed_jobs()[1]
    assert code in text_lines(label.data) and [e.data for e in parse(label.data) if isinstance(e, QR)] == [code]
    keep_paper(label, "5-parcel-label")
    shot(page, "5-parcel-in")
    page.goto(console.url + "registers/parcels/")
    assert "王*" in page.inner_text("table.reg-list") and "139****1111" in page.inner_text("table.reg-list")
    shot(page, "6-parcels")
    fill(page, "pickup", {"code": code, "by_name": "王五"})
    submit(page, "form.pickup button", "text=已取走 · picked up")
    page.goto(console.url + "registers/parcels/")
    fill(page, "pickup", {"code": code, "by_name": "王五"})
    submit(page, "form.pickup button", ".refused")
    assert "不能重复取件" in page.inner_text(".refused")
    shot(page, "7-parcel-twice")

    # 失物招领 with a photo.
    photo = tmp_path / "wallet.png"
    Image.new("RGB", (800, 600), (40, 40, 40)).save(photo)
    page.goto(console.url + "registers/lost_found/")
    fill(page, "new", {"item": "黑色钱包", "place": "大堂休息区", "kept_at": "保管柜 2 号"})
    page.set_input_files("#new-photo", str(photo))
    submit(page, "form.new-entry button", "h2:has-text('SW')")
    page.wait_for_function("document.querySelector('img.reg-photo').naturalWidth === 800")
    shot(page, "8-found-item")

    # 物品放行: registered, checked out at the gate.
    page.goto(console.url + "registers/releases/")
    fill(page, "new", {"room": "1-1-101", "name": "孙七", "phone": "13600002222", "items": "旧沙发 1 套\n纸箱 6 个",
                       "approved_by": "周经理", "vehicle": "川A12345"})
    submit(page, "form.new-entry button", "h2:has-text('FX')")
    fill(page, "checkout", {"guard": "门岗刘", "note": "物品与放行条一致"})
    submit(page, "#step-checkout button", "text=已出门 · checked out")
    shot(page, "9-release-out")

    page.goto(console.url + "registers/")
    cards = page.inner_text(".reg-cards")
    assert "施工中 1" in cards and "待认领 1" in cards and "借出中 0" in cards
    kinds = [r["kind"] for r in rows(agent, "SELECT kind FROM outbox WHERE kind LIKE 'register_%'")]
    assert kinds.count("register_entry") == 5 and kinds.count("register_step") == 4  # the found item waits
    page.close()
