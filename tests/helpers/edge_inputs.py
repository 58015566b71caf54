"""What tests hand the edge: a resident's complaint as a kiosk sends it, and an edge
configuration whose console has one staff user (``staff`` / ``correct horse 1``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo
from typing import Any

from hall_common.config import EdgeConfig


OCCURRED_AT = datetime(2022, 1, 4, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
"""When the test's request happened (发生时间): a morning before the clock of every test (some
set theirs years back), after the hall's default opening day."""


def complaint(**kw: Any) -> dict[str, Any]:
    """A complete complaint request, a fresh request id each time; ``kw`` changes fields."""
    base = {"request": str(uuid.uuid4()), "kind": "repair", "category": "facilities", "place": "3 栋 2 单元",
            "content": "单元门门禁坏了，刷卡没反应", "wanted": "尽快修好", "name": "张三丰", "room": "3-2-101",
            "phone": "13812345678", "occurred_at": OCCURRED_AT}
    return {**base, **kw}


def console_config(tmp_path: Path) -> EdgeConfig:
    """An edge configuration for the console alone (no broker is reached)."""
    (tmp_path / "staff.pw").write_text("correct horse 1")
    (tmp_path / "broker.pw").write_text("x")
    return EdgeConfig(
        hall_id="h1", hall_name="测试大厅", node_id="edge", data_dir=tmp_path / "edge",
        broker={"password_file": tmp_path / "broker.pw"}, http={"port": 8000},
        bootstrap_user={"username": "staff", "password_file": tmp_path / "staff.pw", "role": "staff"},
    )
