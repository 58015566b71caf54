"""Structured logs: JSON lines with hall and node, phone numbers masked."""

from __future__ import annotations

import json
import logging
import logging.handlers

from hall_common import logs


def test_json_lines_with_hall_and_node_and_no_phone(tmp_path):
    file = tmp_path / "x.log"
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.configure(hall="h1", node="kiosk-01", file=file)
        logging.getLogger("test").info("resident %s called", "13812345678")
        for h in root.handlers:
            h.flush()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    line = json.loads(file.read_text(encoding="utf-8").strip().splitlines()[-1])
    assert line["hall"] == "h1" and line["node"] == "kiosk-01" and line["level"] == "INFO"
    assert "13812345678" not in line["msg"] and "138****5678" in line["msg"]


def test_a_log_file_is_rotated_daily_and_only_keep_days_of_old_files_stay(tmp_path):
    """Logs have a retention of their own (docs/privacy.md): at midnight the file starts
    anew and the oldest files beyond ``keep_days`` are deleted."""
    file = tmp_path / "edge.log"
    for day in range(1, 6):  # five days of old files, as the handler names them
        (tmp_path / f"edge.log.2026-11-0{day}").write_text("old\n")
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.configure(hall="h1", node="edge", file=file, keep_days=2)
        logging.getLogger("test").info("before midnight")
        rotating = [h for h in root.handlers if isinstance(h, logging.handlers.TimedRotatingFileHandler)]
        assert len(rotating) == 1 and rotating[0].when == "MIDNIGHT"
        rotating[0].doRollover()
        logging.getLogger("test").info("after midnight")
        for h in root.handlers:
            h.flush()
            h.close()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    old = sorted(p.name for p in tmp_path.glob("edge.log.*"))
    assert len(old) == 2 and "edge.log.2026-11-01" not in old  # the oldest went
    assert "after midnight" in file.read_text(encoding="utf-8") and "before midnight" not in file.read_text(encoding="utf-8")


def test_mask_phone_leaves_other_numbers():
    from hall_common.privacy import mask_phone

    assert mask_phone("ticket A012, room 1-2-1301, tel 15900001111") == "ticket A012, room 1-2-1301, tel 159****1111"


def test_mask_name():
    from hall_common.privacy import mask_name

    assert [mask_name(n) for n in ("张三", "欧阳娜娜", "李", "", " Wang ")] == ["张*", "欧***", "*", "", "W***"]


def test_privacy_docstring_examples_hold():
    import doctest

    from hall_common import privacy

    assert doctest.testmod(privacy).failed == 0
