"""Hours that follow the national calendar: closed on 国庆 even on a weekday, open with
working-day hours on a 调休 Saturday, the one-working-hour promise skipping the holiday,
closed and opened dates as overrides, and the kiosk and the queue saying and doing so."""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

import pytest

from edge_agent.complaints.deadline import first_feedback_due
from edge_agent.db import migrations
from edge_agent.queue.engine import QueueEngine
from hall_common.config import HoursConfig, QueueConfig
from hall_common.errors import RequestFailed
from hall_common.hours import periods_on, today
from hall_common.storage import open_database

from .helpers.clock import TZ, Clock, at
from .minihall import SETTINGS
from .screens import screen_problems
from .test_kiosk_states import page_text

SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots" / "holidays"

WEEK = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri"], "open": "08:30", "close": "18:00"},
                    {"days": ["sat", "sun"], "open": "09:00", "close": "17:00"}]}
NATIONAL_DAY = datetime(2026, 10, 1, 10, 0, tzinfo=TZ)           # a Thursday
WORKING_SATURDAY = datetime(2026, 10, 10, 8, 45, tzinfo=TZ)      # 调休: a working day
ORDINARY_SATURDAY = datetime(2026, 10, 17, 8, 45, tzinfo=TZ)


def hours(**kw) -> HoursConfig:
    return HoursConfig(**{**WEEK, **kw})


def test_national_day_is_closed_though_a_thursday():
    day = today(hours(), NATIONAL_DAY)
    assert not day.open_now and day.periods == []
    assert day.holiday is not None and day.holiday.name_zh == "国庆节"
    assert day.next_open == datetime(2026, 10, 8, 8, 30, tzinfo=TZ)  # the first working day after the week


def test_a_working_saturday_keeps_weekday_hours():
    assert today(hours(), WORKING_SATURDAY).open_now  # 08:45: a weekday opens at 08:30
    assert periods_on(hours(), WORKING_SATURDAY.date()) == [("08:30", "18:00")]
    assert not today(hours(), ORDINARY_SATURDAY).open_now  # an ordinary Saturday opens at 09:00


def test_overrides_and_a_hall_that_ignores_the_calendar():
    assert today(hours(holidays="none"), NATIONAL_DAY).open_now
    assert today(hours(open_dates=["2026-10-01"]), NATIONAL_DAY).open_now
    assert not today(hours(closed_dates=["2026-10-10"]), WORKING_SATURDAY).open_now
    # A closed date wins over an opened one.
    assert periods_on(hours(open_dates=["2026-10-01"], closed_dates=["2026-10-01"]), date(2026, 10, 1)) == []


def test_a_day_open_until_midnight():
    always = HoursConfig(periods=[{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00",
                                   "close": "24:00"}], holidays="none")
    assert today(always, datetime(2026, 12, 6, 23, 59, 30, tzinfo=TZ)).open_now
    late = at(2026, 12, 6, 23, 30)
    assert first_feedback_due(late, "normal", always) == at(2026, 12, 7, 0, 30)
    with pytest.raises(ValueError, match="close"):
        HoursConfig(periods=[{"days": ["mon"], "open": "08:00", "close": "24:30"}])


def test_the_complaint_deadline_skips_the_holiday():
    received = at(2026, 9, 30, 17, 30)  # half an hour before the eve of 国庆 closes
    assert first_feedback_due(received, "normal", hours()) == at(2026, 10, 8, 9, 0)
    # A hall that ignores the calendar owes it on 1 October.
    assert first_feedback_due(received, "normal", hours(holidays="none")) == at(2026, 10, 1, 9, 0)
    # Through the 调休 Saturday: Friday 9 October 17:30 → Saturday 10 October 09:00.
    assert first_feedback_due(at(2026, 10, 9, 17, 30), "normal", hours()) == at(2026, 10, 10, 9, 0)


def test_a_year_the_calendar_does_not_know_goes_by_weekday_and_says_so(caplog):
    caplog.set_level(logging.WARNING, logger="hall_common.holidays")
    assert periods_on(hours(), date(2099, 10, 1)) == [("08:30", "18:00")]  # a Thursday
    assert periods_on(hours(), date(2099, 10, 3)) == [("09:00", "17:00")]  # a Saturday
    assert any("no schedule for 2099" in r.getMessage() for r in caplog.records)


def test_the_queue_gives_no_number_on_national_day_and_does_on_the_working_saturday(tmp_path):
    clock = Clock(NATIONAL_DAY.timestamp())
    db = open_database(tmp_path / "edge.db", migrations, shared_thread=True)
    try:
        queue = QueueEngine(db, QueueConfig(hours=WEEK), clock=clock)
        with pytest.raises(RequestFailed) as refused:
            queue.issue("procedures", kiosk="kiosk-01")
        assert refused.value.code == "closed"
        clock.t = WORKING_SATURDAY.timestamp()
        assert queue.issue("procedures", kiosk="kiosk-01").ticket.code == "A001"
        assert [t.code for t in queue.waiting()] == ["A001"]
    finally:
        db.close()


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_kiosk_says_it_is_closed_for_the_holiday(mini, broker, browser, lang):
    mini.edge()
    settings = {**SETTINGS, "hours": {**SETTINGS["hours"], **WEEK}}
    kiosk, _ = mini.kiosk(settings, {"CLOCK": lambda: NATIONAL_DAY})
    page = browser.new_page(viewport={"width": 1080, "height": 1920})
    try:
        page.goto(kiosk.url)
        if lang == "en":
            page.click("button[lang=en]")
            page.wait_for_selector("html[lang=en] .banner.closed")
        banner = page.inner_text(".banner.closed")
        expected = "今日国庆节放假，服务中心休息。" if lang == "zh_CN" else "The service hall is closed today for National Day."
        assert expected in banner
        page.goto(kiosk.url + "service/queue")
        text = page.inner_text("main")
        assert ("法定节假日休息" if lang == "zh_CN" else "Closed on public holidays") in text
        assert "10-08 08:30" in text  # when it opens again: after the holiday week
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / f"national-day-{lang}.png", full_page=True)
        assert not screen_problems(page)
    finally:
        page.close()


def test_the_kiosk_is_open_on_the_working_saturday(mini, broker):
    mini.edge()
    settings = {**SETTINGS, "hours": {**SETTINGS["hours"], **WEEK}}
    kiosk, _ = mini.kiosk(settings, {"CLOCK": lambda: WORKING_SATURDAY})
    home = page_text(kiosk.url)
    assert "服务中心现在已下班" not in home and "放假" not in home


def test_the_demo_hall_is_open_whenever_it_is_started_and_a_real_one_keeps_its_hours(tmp_path):
    from hall_cli.plan import SAMPLE_HALL, HallPlan

    demo = HallPlan.load(SAMPLE_HALL)
    assert demo.open_around_the_clock
    for moment in (NATIONAL_DAY, datetime(2026, 12, 6, 3, 0, tzinfo=TZ), datetime(2026, 12, 6, 23, 59, tzinfo=TZ)):
        assert today(demo.kiosk_settings.hours, moment).open_now, moment
    real = tmp_path / "hall.toml"
    real.write_text(SAMPLE_HALL.read_text(encoding="utf-8").replace("open_around_the_clock = true", ""), encoding="utf-8")
    kept = HallPlan.load(real).kiosk_settings.hours
    assert kept.holidays == "cn" and not today(kept, datetime(2026, 12, 6, 3, 0, tzinfo=TZ)).open_now
    assert not today(kept, NATIONAL_DAY).open_now


def test_hall_doctor_says_when_the_calendar_does_not_know_the_coming_weeks():
    from hall_cli.doctor import _check_calendar
    from hall_common.config import KioskConfig

    parts = {"kiosk-01": KioskConfig.model_construct()}
    known = _check_calendar(parts, today=date(2026, 6, 1))
    assert known.ok is True and "next 60 days" in known.what
    unknown = _check_calendar(parts, today=date(2099, 12, 1))
    assert unknown.ok is None and "2099, 2100" in unknown.what and "chinesecalendar" in unknown.fix
