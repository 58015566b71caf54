"""The grade a record is proposed when a resident submits it; staff confirm it at acceptance.

Grades (seed 003 section 二): ``emergency`` (handled at once), ``important``, ``general``,
``suggestion`` (suggestions, consultations and praise). Pure functions of the record, so
every rule is a plain test.

* **emergency**, whatever the kind: water leaking, a power cut in a public area, people
  trapped in an elevator, fire or smoke, a smell of gas;
* **important**: a safety risk, a complaint about staff, a group complaint (several rooms,
  one issue) or a repeat complaint (same room and category within 30 days);
* **suggestion**: suggestions, consultations and praise that are not emergencies;
* **general**: everything else.
"""

from __future__ import annotations

import re

EMERGENCY = {
    "water_leak": re.compile(r"漏水|跑水|爆管|水管(破|裂|爆)|淹水|水漫|渗水严重|leak|flood", re.I),
    "power_cut_public": re.compile(r"(公共|楼道|电梯|地下室|车库|大堂|整栋|全楼|小区).{0,6}(停电|断电|没电)|(停电|断电).{0,6}(公共|楼道|整栋|全楼|小区)"),
    "elevator_trapped": re.compile(r"困人|被困|关在电梯|电梯.{0,4}(困|卡住.{0,2}人)|trapped", re.I),
    "fire_smoke": re.compile(r"着火|起火|火灾|冒烟|烟雾|失火|fire|smoke", re.I),
    "gas_smell": re.compile(r"(煤气|燃气|天然气).{0,4}(味|泄漏|漏)|gas (smell|leak)", re.I),
}
SAFETY = re.compile(r"安全|隐患|危险|坠落|脱落|松动|漏电|触电|unsafe|danger", re.I)
QUIET_KINDS = ("suggestion", "consultation", "praise")


def emergency_reasons(text: str) -> list[str]:
    """Which emergency each matching rule names, for the alarm text and the audit trail."""
    return [name for name, rule in EMERGENCY.items() if rule.search(text)]


def grade(kind: str, category: str, text: str, *, repeat: bool = False, group: bool = False) -> str:
    if emergency_reasons(text):
        return "emergency"
    if kind in QUIET_KINDS:
        return "suggestion"
    if SAFETY.search(text) or group or repeat or (kind == "complaint" and category == "staff"):
        return "important"
    return "general"
