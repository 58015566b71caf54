"""Structured logs: one JSON line per event, tagged with the hall and node, no personal data.

Every part calls :func:`configure` once at start. A filter masks anything that looks like a
mainland mobile number before a line is written, as a last guard: code should not log
personal data in the first place. A log file is rotated at midnight and ``keep_days`` old
files are kept (``log_keep_days``), so logs have a retention of their own (docs/privacy.md).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter

from hall_common.privacy import mask_phone

class _Context(logging.Filter):
    """Adds hall and node to every record and masks phone numbers in the message."""

    def __init__(self, hall: str, node: str) -> None:
        super().__init__()
        self.hall, self.node = hall, node

    def filter(self, record: logging.LogRecord) -> bool:
        record.hall = self.hall
        record.node = self.node
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if isinstance(record.msg, str):
            record.msg = mask_phone(record.msg)
        return True


def configure(*, hall: str, node: str, level: str = "INFO", file: Path | None = None, keep_days: int = 30) -> None:
    """Send the root logger's records as JSON lines to stderr (and ``file`` if given, a new
    one each day, ``keep_days`` of them kept)."""
    formatter = JsonFormatter(
        "{asctime}{levelname}{name}{message}{hall}{node}",
        style="{",
        rename_fields={"asctime": "ts", "levelname": "level", "name": "logger", "message": "msg"},
        json_ensure_ascii=False,
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.TimedRotatingFileHandler(file, when="midnight", backupCount=keep_days,
                                                                  encoding="utf-8"))
    context = _Context(hall, node)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(context)
        root.addHandler(handler)
    root.setLevel(level)
    # paho logs every packet at DEBUG; waitress logs each queue depth warning at WARNING.
    logging.getLogger("paho").setLevel(max(logging.INFO, root.level))
