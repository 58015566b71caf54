"""Demo households and bills, for ``hall up`` and the tests (never for a real hall).

Dates are counted from ``today`` so the demo always has one line past due, one coming due
and a paid one. Every line states its standard and basis, as a real one must.
"""

from __future__ import annotations

from datetime import date, timedelta

from central_sync.store import Store

from .residents import Household, add_line, save_household

DEMO_ROOM = "3-2-1201"
HOUSEHOLDS = (
    # room, owner, registered phone, floor area (㎡)
    ("3-2-1201", "张三", "13812345678", 89.5),
    ("3-2-1202", "李四", "13987654321", 120.0),
    ("5-1-601", "王芳", "13700001111", 76.3),
)
PROPERTY_BASIS = "成都市物业服务收费管理办法；物业服务合同第 5 条"
PARKING_BASIS = "车位管理服务协议第 3 条；成都市物业服务收费管理办法"
WATER_BASIS = "成都市居民用水阶梯价格（代收，按表计量）"


def _month(d: date, back: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 - back, 12)
    return date(y, m + 1, 1)


def load_demo(store: Store, hall_id: str, *, today: date | None = None) -> None:
    """Write the demo households and their lines (again: ids are fixed per hall and room,
    so loading twice changes nothing)."""
    today = today or date.today()
    with store.transaction():
        for n, (room, owner, phone, area) in enumerate(HOUSEHOLDS):
            building, unit, _ = room.split("-")
            save_household(store, Household(hall_id, room, building, unit, owner, phone))
            fee = round(250 * area)  # 2.50 元/㎡·月
            lines = []
            for back, status in ((2, "paid"), (1, "unpaid"), (0, "unpaid")):
                start = _month(today, back)
                lines.append(("物业费", f"{start.year}年{start.month}月", fee, f"2.50 元/㎡·月 × {area} ㎡", PROPERTY_BASIS,
                              (start + timedelta(days=14)).isoformat(), status))
            if n == 0:
                last = _month(today, 1)
                lines.append(("车位管理费", f"{last.year}年第{(last.month - 1) // 3 + 1}季度", 30000,
                              "100.00 元/个·月 × 3 个月", PARKING_BASIS, (today + timedelta(days=20)).isoformat(), "unpaid"))
                lines.append(("水费", f"{last.year}年{last.month}月", 4420, "3.40 元/吨 × 13 吨（第一阶梯）", WATER_BASIS,
                              (today + timedelta(days=10)).isoformat(), "unpaid"))
            for i, (item, period, amount, standard, basis, due, status) in enumerate(lines):
                add_line(store, hall_id=hall_id, room=room, item=item, period=period, amount_fen=amount,
                         standard=standard, basis=basis, due_date=due, status=status,
                         line_id=_line_id(hall_id, room, i, period))


def _line_id(hall_id: str, room: str, i: int, period: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hall-demo:{hall_id}:{room}:{i}:{period}"))
