"""The AED cabinet (seed 000 clause 4.4.5): a door that may mean a rescue, and an AED that
must be ready.

Inputs: the cabinet node's door (ESPHome ``binary_sensor/door``, ``ON`` = open) or a reed
switch on the edge Pi's GPIO (gpiozero; closed contact = door shut), its
``sensor/cabinet_temperature`` and ``text_sensor/self_test`` (``pass`` / ``fail``, the AED's
own daily self-test); the battery and pad expiry dates, which staff enter from the labels.

Alarms (one model, :class:`edge_agent.alarms.Alarms`):

* ``aed.door`` **critical** the moment the door opens, with the location: "possible rescue in
  progress". Closing the door does not clear it: after a use the AED needs new pads and to
  be re-armed, so the alarm clears only when staff complete the checklist (pads replaced,
  AED re-armed, door closed). The use is recorded with the checklist.
* ``aed.temperature`` major outside ``temp_low``..``temp_high`` (0-50 °C by default).
* ``aed.self_test`` major on a failed self-test; ``aed.self_test_missing`` major when no
  result came within ``self_test_window_h`` hours.
* ``aed.battery`` / ``aed.pads``: warning 30 days before expiry, major at 7 days, critical
  once expired (one alarm each, its severity rising).

Each self-test result and each completed checklist also goes to the centre (record kind
``aed_check``), so the monthly report shows the checks, not only their failures.

The cabinet's state is published retained as the edge's ``aed`` device state
(``hall/v1/{hall}/edge/aed/state``) for the console, kiosks and Home Assistant. Time is a
controllable clock; :meth:`Aed.tick` judges what depends on time alone.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import date, datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

from central_sync import client as outbox
from hall_common.bus import contract
from hall_common.bus.payloads import DeviceState
from hall_common.config import AedConfig
from hall_common.errors import HallError
from hall_common.storage import immediate

from .alarms import Alarms
from .component import Component

log = logging.getLogger(__name__)

WARN_DAYS, MAJOR_DAYS = 30, 7
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PARTS = {"battery": ("电池", "battery"), "pads": ("电极片", "pads")}
CHECK_KIND = "aed_check"
"""The centre's record of each self-test result and each after-use checklist, for the
monthly reports (how many days the AED tested itself, and passed); written with the fact."""


class AedRefused(HallError, ValueError):
    """What staff entered cannot be taken; ``message`` says why in Chinese and English."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Aed(Component):
    """The AED cabinet component. ``tick_every`` is how often :meth:`tick` judges what
    depends on time alone (expiry, a missing self-test)."""

    name = "aed"

    def __init__(self, config: AedConfig, *, db_path: Any, alarms: Alarms, bus: Any = None,
                 timezone: str = "Asia/Shanghai", clock: Callable[[], float] = time.time, pin_factory: Any = None,
                 tick_every: float = 60.0) -> None:
        self.config, self.alarms, self.bus, self.clock = config, alarms, bus, clock
        self.node = bus.node_id if bus is not None else "edge"  # whose records go to the centre
        self.zone = ZoneInfo(timezone)
        self.own_connection(db_path)
        self.every(tick_every, self.tick, name="aed-tick")
        self._door: Any = None
        if config.door_pin is not None:
            from gpiozero import Button

            # A reed switch to ground: closed (pressed) while the magnet on the door is near.
            self._door = Button(config.door_pin, pull_up=True, bounce_time=0.05, pin_factory=pin_factory)
            self._door.when_released = lambda: self.on_door(True, source="gpio")
            self._door.when_pressed = lambda: self.on_door(False, source="gpio")

    def attach(self, bus: Any) -> None:
        """The cabinet node's own topics: its temperature, its door (unless the door is on
        the edge's GPIO) and the AED's self-test."""
        node = self.config.node
        if node is None:
            return
        hall = bus.hall_id
        bus.subscribe(contract.ESPHOME_SENSOR.topic(hall=hall, node=node, object_id="cabinet_temperature"),
                      lambda msg: self.on_temperature(msg.payload), qos=0)
        if self.config.door_pin is None:
            bus.subscribe(contract.ESPHOME_BINARY.topic(hall=hall, node=node, object_id="door"),
                          lambda msg: self.on_door(msg.payload, source=node))
        bus.subscribe(contract.ESPHOME_TEXT.topic(hall=hall, node=node, object_id="self_test"),
                      lambda msg: self.on_self_test(msg.payload))

    def start(self) -> None:
        """Read the GPIO door once at start (an edge restarted while the door is open)."""
        if self._door is not None:
            self.on_door(not self._door.is_pressed, source="gpio")
        self.tick()
        super().start()

    def republish(self) -> None:
        self.publish()

    def close(self) -> None:
        super().close()
        if self._door is not None:
            self._door.close()

    # -- inputs ------------------------------------------------------------------------------

    def on_door(self, is_open: bool, *, source: str = "node") -> None:
        now = self.clock()
        with self._lock, immediate(self.db):  # the door and the use it opens or ends, or neither
            was_open = self._get("door_open") == "1"
            self._set("door_open", "1" if is_open else "0")
            if is_open and not was_open:
                self._set("in_use", "1")
                self.db["aed_uses"].insert({"opened_at": now, "closed_at": None, "checked_at": None, "checked_by": None,
                                            "pads_replaced": 0, "rearmed": 0, "note": "", "source": source})
            elif not is_open and was_open:
                last = self._last_use()
                if last is not None and last["closed_at"] is None:
                    self.db["aed_uses"].update(last["id"], {"closed_at": now})
        if is_open and not was_open:
            loc = self.config.location
            self.alarms.raise_("aed.door", source="edge/aed", type="aed_door_open", severity="critical",
                               text=f"AED 柜门已打开（{loc}）：可能正在急救 · AED cabinet opened at {loc}: "
                                    f"possible rescue in progress")
            log.warning("AED cabinet door opened (%s)", source)
        self.publish()

    def on_temperature(self, value: float) -> None:
        if value != value:  # NaN: a sensor fault, not a temperature
            return
        with self._lock:
            self._set("temperature", f"{value:.1f}")
        low, high = self.config.temp_low, self.config.temp_high
        if value < low or value > high:
            self.alarms.raise_("aed.temperature", source="edge/aed", type="aed_temperature", severity="major",
                               text=f"AED 柜内温度 {value:.1f} °C，超出 {low:g}-{high:g} °C · AED cabinet at "
                                    f"{value:.1f} °C, outside {low:g}-{high:g} °C")
        else:
            self.alarms.clear("aed.temperature")
        self.publish()

    def on_self_test(self, result: str) -> None:
        result = result.strip().lower()
        if result not in ("pass", "fail"):
            log.warning("AED self-test: unknown result %r dropped", result[:20])
            return
        now = self.clock()
        with self._lock, immediate(self.db):
            self._set("self_test", result)
            self._set("self_test_at", f"{now:.0f}")
            outbox.add(self.db, CHECK_KIND, {"check": "self_test", "result": result, "at": now}, node=self.node)
        self.alarms.clear("aed.self_test_missing")
        if result == "fail":
            self.alarms.raise_("aed.self_test", source="edge/aed", type="aed_self_test", severity="major",
                               text="AED 自检未通过，请检查设备 · AED self-test failed: check the AED")
        else:
            self.alarms.clear("aed.self_test")
        self.publish()

    # -- staff -------------------------------------------------------------------------------

    def set_expiry(self, part: str, value: str, *, who: str) -> None:
        """The battery's or the pads' expiry date from its label (YYYY-MM-DD)."""
        if part not in PARTS:
            raise AedRefused("未知部件 · Unknown part")
        day = _parse_day(value)
        with self._lock, immediate(self.db):
            self._set(f"{part}_expires", day.isoformat())
            self._set(f"{part}_set_by", who)
        log.info("AED %s expiry set to %s by %s", part, day, who)
        self.tick()

    def checklist(self, *, who: str, pads_replaced: bool, rearmed: bool, new_pads_expire: str = "", note: str = "") -> None:
        """After a use: every step done, the door closed. Clears the door alarm."""
        missing = [zh for done, zh in ((pads_replaced, "已更换电极片 · pads replaced"),
                                       (rearmed, "AED 已复位待用 · AED re-armed")) if not done]
        if missing:
            raise AedRefused("请完成检查单：" + "；".join(missing) + " · Complete the checklist first")
        now = self.clock()
        with self._lock, immediate(self.db):  # checked and written together, or nothing written
            if self._get("door_open") == "1":
                raise AedRefused("柜门传感器仍显示打开，请关好柜门 · The door sensor still says open: close the door")
            if self._get("in_use") != "1":
                raise AedRefused("没有待处理的使用记录 · No use of the AED is waiting for its checklist")
            day = _parse_day(new_pads_expire) if new_pads_expire.strip() else None
            last = self._last_use()
            if last is not None:
                self.db["aed_uses"].update(last["id"], {"checked_at": now, "checked_by": who, "pads_replaced": 1,
                                                        "rearmed": 1, "note": note.strip()[:200]})
            self._set("in_use", "0")
            if day is not None:
                self._set("pads_expires", day.isoformat())
            outbox.add(self.db, CHECK_KIND, {"check": "after_use", "result": "pass", "at": now,
                                             "opened_at": last["opened_at"] if last is not None else None}, node=self.node)
        self.alarms.clear("aed.door")
        log.info("AED checklist completed by %s", who)
        self.tick()

    # -- time --------------------------------------------------------------------------------

    def tick(self) -> None:
        """Judge what depends on time alone: expiry dates and a missing self-test."""
        now = self.clock()
        today = datetime.fromtimestamp(now, self.zone).date()
        with self._lock:
            state = self.state()
        for part, (zh, en) in PARTS.items():
            expires = state[f"{part}_expires"]
            alarm_id = f"aed.{part}"
            if expires is None:
                continue
            left = (date.fromisoformat(expires) - today).days
            if left < 0:
                sev, zh_t, en_t = "critical", f"已于 {expires} 过期，须立即更换", f"expired on {expires}: replace now"
            elif left <= MAJOR_DAYS:
                sev, zh_t, en_t = "major", f"将于 {expires} 过期（{left} 天）", f"expires on {expires} ({left} days)"
            elif left <= WARN_DAYS:
                sev, zh_t, en_t = "warning", f"将于 {expires} 过期（{left} 天）", f"expires on {expires} ({left} days)"
            else:
                self.alarms.clear(alarm_id)
                continue
            self.alarms.raise_(alarm_id, source="edge/aed", type=f"aed_{part}_expiry", severity=sev,
                               text=f"AED {zh}{zh_t} · AED {en} {en_t}")
        last = state["self_test_at"]
        window = self.config.self_test_window_h * 3600
        started = float(self._get("watch_since") or self._init_watch(now))
        if (last is None and now - started > window) or (last is not None and now - last > window):
            self.alarms.raise_("aed.self_test_missing", source="edge/aed", type="aed_self_test_missing", severity="major",
                               text=f"{self.config.self_test_window_h:g} 小时内未收到 AED 自检结果 · No AED self-test result "
                                    f"in {self.config.self_test_window_h:g} h")
        self.publish()

    # -- state -------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self._lock:
            kv = {r["key"]: r["value"] for r in self.db["aed_state"].rows}
        at = kv.get("self_test_at")
        temp = kv.get("temperature")
        return {"location": self.config.location, "door_open": kv.get("door_open") == "1", "in_use": kv.get("in_use") == "1",
                "temperature": float(temp) if temp is not None else None, "self_test": kv.get("self_test"),
                "self_test_at": float(at) if at is not None else None, "battery_expires": kv.get("battery_expires"),
                "pads_expires": kv.get("pads_expires")}

    def uses(self, limit: int = 20) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.db.query("SELECT * FROM aed_uses ORDER BY id DESC LIMIT ?", [limit]))

    def publish(self) -> None:
        if self.bus is None or not self.bus.connected:
            return
        s = self.state()
        problem = s["in_use"] or s["self_test"] == "fail" or any(
            a["id"].startswith("aed.") and a["severity"] in ("critical", "major") for a in self.alarms.active())
        status = {k: s[k] for k in ("door_open", "in_use", "temperature", "self_test", "self_test_at",
                                    "battery_expires", "pads_expires", "location")}
        status["problem"] = bool(problem)
        status["battery_ok"] = s["battery_expires"] is not None and date.fromisoformat(s["battery_expires"]) > \
            datetime.fromtimestamp(self.clock(), self.zone).date()
        self.bus.publish(contract.DEVICE_STATE, DeviceState(kind="aed", online=True, status=status, ts=self.clock()),
                         hall=self.bus.hall_id, node=self.bus.node_id, dev="aed")

    def _last_use(self) -> dict[str, Any] | None:
        return next(self.db.query("SELECT * FROM aed_uses ORDER BY id DESC LIMIT 1"), None)

    def _get(self, key: str) -> str | None:
        rows = list(self.db.query("SELECT value FROM aed_state WHERE key = ?", [key]))
        return rows[0]["value"] if rows else None

    def _set(self, key: str, value: str) -> None:
        self.db["aed_state"].upsert({"key": key, "value": value}, pk="key")

    def _init_watch(self, now: float) -> float:
        with self._lock:
            self._set("watch_since", f"{now:.0f}")
        return now


def _parse_day(value: str) -> date:
    value = value.strip()
    if not DATE.match(value):
        raise AedRefused("日期格式应为 年-月-日，例如 2027-06-30 · Enter the date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AedRefused("没有这一天，请核对日期 · No such day: check the date") from None
