"""Day-end reconciliation (issue 19 item 4): a day of 1,000 payments across both sandbox
wallets, their bills written in WeChat Pay's tradebill and Alipay's GBK zip formats and read
back by the real parsers; each planted difference found and no false one (SQLite and a real
PostgreSQL); a payment recorded just after midnight matched, not a difference; bad days
refused in both languages writing nothing; a manager sees only their halls; the daily job
runs yesterday once; the page and the fleet banner in Chromium."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from central_sync.server import accounts
from central_sync.server.payments import bills, wechat
from central_sync.server.payments.bills import BillRow, BillUnreadable
from central_sync.server.payments.provider import NewOrder
from central_sync.server.payments.sandbox_alipay import AlipaySandbox
from central_sync.server.reconciliation import CHINA, DayRefused, check_day, day_bounds, reconcile

from .helpers.central import central_app
from .helpers.clock import Clock
from .helpers.screens import to_docs

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "var" / "screenshots" / "reconciliation"
PASSWORD = "correct horse battery"
N = 1000


class World:
    def __init__(self, tmp_path: Path, url: str) -> None:
        # Noon China time, so "yesterday" is a whole day before.
        noon = datetime.now(CHINA).replace(hour=12, minute=0, second=0, microsecond=0)
        self.clock = Clock(noon.timestamp())
        self.app, self.store, _ = central_app(tmp_path, url, test_config={
            "PAYMENTS_CLOCK": self.clock, "PAYMENTS_SWEEP": False, "RECONCILIATION_THREAD": False,
            "RETENTION_THREAD": False}, payments={"sweep_s": 0})
        self.payments = self.app.extensions["payments"]
        self.wechat = self.payments.providers["sandbox"]
        self.alipay = next(s for s in self.payments.sandboxes if isinstance(s, AlipaySandbox))
        self.day = (noon.date() - timedelta(days=1)).isoformat()
        for name, role, halls in (("admin", "admin", []), ("mgr", "manager", ["h1"]), ("audit", "auditor", [])):
            accounts.add(self.store, name, PASSWORD, role, halls, by="test")

    def fill(self, n: int = N) -> list[dict[str, Any]]:
        """``n`` payments of the day, alternating wallets and halls: paid at the provider
        (its sandbox's trade) and recorded at the centre two seconds later."""
        start, _ = day_bounds(self.day)
        rows = []
        for i in range(n):
            wallet = "sandbox" if i % 2 else "alipay"
            at = start + 30 + i * 80  # 1,000 × 80 s: within the day
            no = f"HP{i:05d}{uuid.uuid4().hex[:12]}"
            fen = 100 + (i * 37) % 50000
            rows.append({"id": str(uuid.uuid4()), "hall": "h1" if i % 4 < 2 else "h2", "provider": wallet, "no": no,
                         "fen": fen, "at": at})
            self.provider_pays(wallet, no, fen, at)
        self.centre_records(rows)
        return rows

    def provider_pays(self, wallet: str, no: str, fen: int, at: float) -> None:
        order = NewOrder(no, "物业缴费 3-2-1201", fen, at + 900, "http://centre.invalid/notify", "http://centre.invalid")
        (self.wechat if wallet == "sandbox" else self.alipay).paid_trade(order, at)

    def centre_records(self, rows: list[dict[str, Any]], delay: float = 2.0) -> None:
        self.store.executemany(
            "INSERT INTO payment_orders (id, hall_id, room, kiosk, provider, out_trade_no, amount_fen, status, created_at, "
            "expires_at, paid_at, transaction_id) VALUES (?, ?, '3-2-1201', 'kiosk-01', ?, ?, ?, 'paid', ?, ?, ?, ?)",
            [(r["id"], r["hall"], r["provider"], r["no"], r["fen"], r["at"] - 60, r["at"] + 840, r["at"] + delay, "t")
             for r in rows])

    def login(self, user: str):
        c = self.app.test_client()
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
        assert c.post("/login", data={"username": user, "password": PASSWORD, "csrf_token": token}).status_code == 302
        page = c.get("/reconciliation/").get_data(as_text=True)
        return c, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def differences(self, run_id: str) -> dict[tuple[str, str], tuple[str, Any, Any]]:
        return {(r["provider"], r["out_trade_no"]): (r["kind"], r["bill_fen"], r["centre_fen"]) for r in self.store.query(
            "SELECT * FROM reconciliation_differences WHERE run_id = ?", (run_id,))}

    def close(self) -> None:
        self.payments.close()
        pool = self.app.extensions.get("store_pool")
        if pool is not None:
            pool.close()
        self.store.close()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path, f"sqlite:///{tmp_path}/central.db")
    yield w
    w.close()


@pytest.fixture
def db_world(central_db, tmp_path):
    w = World(tmp_path, central_db)
    yield w
    w.close()


def plant(w: World, rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, Any, Any]]:
    """One difference of each kind for each wallet; returns what must be found."""
    expected = {}
    for wallet in ("sandbox", "alipay"):
        mine = [r for r in rows if r["provider"] == wallet]
        gone, changed = mine[10], mine[20]
        w.store.execute("DELETE FROM payment_orders WHERE id = ?", (gone["id"],))  # a payment deleted at the centre
        expected[(wallet, gone["no"])] = ("missing_at_centre", gone["fen"], None)
        w.store.execute("UPDATE payment_orders SET amount_fen = amount_fen + 1 WHERE id = ?", (changed["id"],))
        expected[(wallet, changed["no"])] = ("amount_differs", changed["fen"], changed["fen"] + 1)
        lone = {"id": str(uuid.uuid4()), "hall": "h2", "provider": wallet, "no": "HPLONE" + uuid.uuid4().hex[:10],
                "fen": 4321, "at": day_bounds(w.day)[0] + 40000}
        w.centre_records([lone])  # paid at the centre, the provider never had it
        expected[(wallet, lone["no"])] = ("missing_at_provider", None, 4321)
        # Paid a second before midnight, recorded after it: in the bill of the day, at the
        # centre on the next day; matched, not a difference.
        late = {"id": str(uuid.uuid4()), "hall": "h1", "provider": wallet, "no": "HPLATE" + uuid.uuid4().hex[:10],
                "fen": 999, "at": day_bounds(w.day)[1] - 1}
        w.provider_pays(wallet, late["no"], late["fen"], late["at"])
        w.centre_records([late], delay=3)
    return expected


def test_a_day_of_1000_payments_finds_each_planted_difference_and_no_false_one(db_world):
    w = db_world
    rows = w.fill()
    clean = reconcile(w.store, w.payments.providers, w.day, now=w.clock(), by="test")
    assert clean is not None and w.differences(clean) == {}, "no false difference in 1,000 matching payments"
    totals = w.store.query("SELECT provider, sum(bill_count) AS n, sum(bill_fen) AS fen, sum(centre_count) AS c, "
                           "sum(centre_fen) AS cf FROM reconciliation_totals WHERE run_id = ? GROUP BY provider ORDER BY provider",
                           (clean,))
    for t in totals:
        mine = [r for r in rows if r["provider"] == t["provider"]]
        assert (t["n"], t["fen"], t["c"], t["cf"]) == (len(mine), sum(r["fen"] for r in mine)) * 2
    assert {t["provider"] for t in totals} == {"sandbox", "alipay"}

    expected = plant(w, rows)
    run = reconcile(w.store, w.payments.providers, w.day, now=w.clock(), by="test")
    assert run is not None and w.differences(run) == expected
    assert w.store.scalar("SELECT differences FROM reconciliation_runs WHERE id = ?", (run,)) == 6


def test_the_page_lists_the_differences_and_a_manager_sees_only_own_halls(world):
    w = world
    expected = plant(w, w.fill(200))
    admin, token = w.login("admin")
    r = admin.post("/reconciliation/run", data={"day": w.day, "csrf_token": token})
    assert r.status_code == 303
    page = admin.get(f"/reconciliation/?day={w.day}").get_data(as_text=True)
    for (_, no), (kind, _, _) in expected.items():
        assert no in page
    assert page.count('class="bad diff-') == 6
    assert "中心无此笔 · missing at the centre" in page and "金额不符 · amount differs" in page
    assert "对账差异" in admin.get("/").get_data(as_text=True), "the fleet page shows the banner"

    mgr, _ = w.login("mgr")
    page = mgr.get(f"/reconciliation/?day={w.day}").get_data(as_text=True)
    halls = {no: h for no, h in ((r["out_trade_no"], r["hall_id"]) for r in w.store.query(
        "SELECT out_trade_no, hall_id FROM reconciliation_differences"))}
    for (_, no), _ in expected.items():
        assert (no in page) == (halls[no] == "h1"), no
    assert "重新对账" not in page
    shown = [int(n) for n in re.findall(r'<td class="num">(\d+)</td><td class="num">¥', page)]
    h1 = w.store.query("SELECT provider, bill_count FROM reconciliation_totals WHERE hall_id = 'h1' ORDER BY provider")
    assert shown and shown[0::2] == [r["bill_count"] for r in h1], "the manager's totals are of h1 only"
    assert mgr.post("/reconciliation/run", data={"day": w.day, "csrf_token": token}).status_code in (400, 403)


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "", "'; DROP TABLE x", "TODAY", "9999-01-01", "2001-01-01"])
def test_a_bad_day_is_refused_in_both_languages_and_runs_nothing(world, day):
    w = world
    if day == "TODAY":
        day = datetime.fromtimestamp(w.clock(), CHINA).date().isoformat()
    admin, token = w.login("admin")
    r = admin.post("/reconciliation/run", data={"day": day, "csrf_token": token}, follow_redirects=True)
    text = r.get_data(as_text=True)
    assert "nothing was run" in text and "未对账" in text
    assert re.search(r"[\u4e00-\u9fff].* · [A-Z]", text)
    assert w.store.scalar("SELECT count(*) FROM reconciliation_runs") == 0
    if day:  # no day on the page is its default: the newest day
        r = admin.get("/reconciliation/", query_string={"day": day})
        assert r.status_code == 400 and re.search(r'id="day-error">[^<]*[\u4e00-\u9fff][^<]* · (The day|Only)',
                                                  r.get_data(as_text=True))


def test_check_day():
    now = datetime(2026, 12, 6, 9, 0, tzinfo=CHINA).timestamp()
    assert check_day(" 2026-12-05 ", now=now) == "2026-12-05"
    for bad in ("2026-12-06", "2026-12-07", "2026-02-30", "20261205", "2026-08-01"):
        with pytest.raises(DayRefused):
            check_day(bad, now=now)


def test_the_daily_job_runs_yesterday_once_after_ten(world):
    w = world
    w.fill(20)
    job = w.app.extensions["reconciliation"]
    morning = datetime.fromtimestamp(w.clock(), CHINA).replace(hour=9, minute=30).timestamp()
    w.clock.t = morning
    assert job.run_yesterday() is None, "before the bills are published"
    w.clock.t = morning + 3600
    assert job.run_yesterday() is not None
    assert job.run_yesterday() is None, "once a day"
    runs = w.store.query("SELECT day, started_by, status, differences FROM reconciliation_runs")
    assert runs == [{"day": w.day, "started_by": "(daily)", "status": "done", "differences": 0}]


def test_a_bill_that_cannot_be_had_fails_the_run_and_raises_the_banner(world):
    w = world
    w.fill(10)

    class Down:
        name = "alipay"

        def download_bill(self, day: str):
            raise BillUnreadable("alipay bill: no single 业务明细.csv in the zip")

    run = reconcile(w.store, {"sandbox": w.wechat, "alipay": Down()}, w.day, now=w.clock(), by="test")
    row = w.store.query("SELECT status, error FROM reconciliation_runs WHERE id = ?", (run,))[0]
    assert row["status"] == "failed" and "alipay" in row["error"]
    admin, _ = w.login("admin")
    assert "对账未完成" in admin.get("/").get_data(as_text=True)


# -- the formats ---------------------------------------------------------------------------------


def test_the_wechat_tradebill_format_round_trips_and_a_cut_file_is_refused():
    rows = [BillRow("HP1", "pay", 1230, "4200aa", "2026-12-05 10:00:00"),
            BillRow("HP2", "pay", 5, "4200bb", "2026-12-05 11:00:00"),
            BillRow("HP1", "refund", 230, "4200aa", "2026-12-05 12:00:00", "RMHP1a")]
    text = bills.wechat_tradebill(rows, appid="wx1", mchid="1900000109")
    assert text.splitlines()[1].startswith("`2026-12-05 10:00:00,`wx1,`1900000109")
    assert text.splitlines()[-2].startswith("总交易单数")
    assert bills.parse_wechat_tradebill(text) == rows
    with pytest.raises(BillUnreadable):
        bills.parse_wechat_tradebill("\r\n".join(text.splitlines()[:-2]))  # no summary
    with pytest.raises(BillUnreadable):
        bills.parse_wechat_tradebill(text.replace("`12.30", "`12.31"))  # lines not the summary's total
    with pytest.raises(BillUnreadable):
        bills.parse_wechat_tradebill("<html>error</html>")


def test_the_alipay_bill_zip_is_gbk_with_comments_and_tab_padding():
    rows = [BillRow("HP1", "pay", 1230, "2026120522001", "2026-12-05 10:00:00"),
            BillRow("HP1", "refund", 230, "2026120522001", "2026-12-05 12:00:00", "RMHP1b")]
    data = bills.alipay_bill_zip(rows, seller_id="2088000000000001", day="2026-12-05", exported="2026-12-06 09:00:00")
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        detail = z.read(next(n for n in names if n.endswith("业务明细.csv"))).decode("gbk")
    assert any(n.endswith("业务明细(汇总).csv") for n in names)
    assert detail.startswith("#支付宝业务明细查询") and "#交易合计：1笔" in detail and "HP1\t," in detail
    assert bills.parse_alipay_bill_zip(data) == rows
    with pytest.raises(BillUnreadable):
        bills.parse_alipay_bill_zip(b"PK not a zip")


def test_the_real_wechat_provider_fetches_the_tradebill_with_a_signed_request_and_checks_its_hash():
    from cryptography.hazmat.primitives.asymmetric import rsa

    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    text = bills.wechat_tradebill([BillRow("HP1", "pay", 100, "4200aa", "2026-12-05 10:00:00")], appid="wx1", mchid="1")
    seen, named = [], hashlib.sha1(text.encode()).hexdigest()
    served = [text]

    def send(method: str, url: str, headers: dict[str, str], body: bytes):
        path = url.removeprefix("https://api.mch.weixin.qq.com")
        wechat.verify_authorization(headers["Authorization"], method=method, path=path, body="",
                                    public_key=merchant.public_key())
        seen.append(path)
        if path.startswith("/v3/bill/tradebill"):
            reply = json.dumps({"hash_type": "SHA1", "hash_value": named,
                                "download_url": "https://api.mch.weixin.qq.com/v3/billdownload/file?token=abc"})
            return 200, wechat.signed_headers(platform, "P1", reply, timestamp=int(time.time()), nonce_str="n"), reply.encode()
        return 200, {}, served[0].encode()

    pay = wechat.WeChatPay(mchid="1", appid="wx1", serial="S", private_key=merchant, platform_keys={"P1": platform.public_key()},
                           apiv3_key=b"k" * 32, send=send)
    assert [r.out_trade_no for r in pay.download_bill("2026-12-05")] == ["HP1"]
    assert seen == ["/v3/bill/tradebill?bill_date=2026-12-05&bill_type=ALL", "/v3/billdownload/file?token=abc"]
    served[0] = text.replace("`1.00", "`2.00")  # the file is not the one the signed reply named
    with pytest.raises(BillUnreadable):
        pay.download_bill("2026-12-05")


def test_the_page_and_the_fleet_banner_in_chromium(tmp_path, browser):
    from .minihall import Served

    w = World(tmp_path, f"sqlite:///{tmp_path}/central.db")
    served = Served(w.app)
    try:
        plant(w, w.fill(120))
        reconcile(w.store, w.payments.providers, w.day, now=w.clock(), by="admin")
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(served.url + "login")
        page.fill("#username", "admin")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("p.reconciliation-alarm")
        assert "对账差异" in page.inner_text("p.reconciliation-alarm")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "fleet-banner.png")
        page.click("p.reconciliation-alarm a")
        page.wait_for_selector("table#differences tr.diff-amount_differs")
        assert page.locator("table#differences tbody tr.bad").count() == 6
        page.screenshot(path=SHOTS / "reconciliation.png", full_page=True)
        to_docs(SHOTS / "reconciliation.png", "centre-reconciliation.png")
    finally:
        served.stop()
        w.close()
