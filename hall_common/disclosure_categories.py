"""The categories of public disclosures (信息公示) a hall keeps, after seed 000 clause 4.8 and
seed 003 section 六. One list for the centre (which publishes), the edge (which counts and
searches) and the kiosk (which shows), so an item is never filed under a name one side lacks.
The kiosk translates the English names through its own catalog."""

from __future__ import annotations

from typing import NamedTuple


class Category(NamedTuple):
    id: str
    zh: str
    en: str


CATEGORIES: tuple[Category, ...] = (
    Category("licence", "营业执照", "Business licence"),
    Category("service", "服务内容与质量标准", "Service items and standards"),
    Category("fees", "收费项目、标准与方式", "Fee items, rates and how to pay"),
    Category("manager", "项目负责人及投诉电话", "Manager and complaint phone"),
    Category("contract", "合同履行与收支情况", "Contract performance, income and spending"),
    Category("common_income", "共有部分经营收益", "Income from common parts"),
    Category("repair_fund", "专项维修资金使用", "Use of the maintenance fund"),
    Category("contractors", "设施设备维保单位", "Maintenance contractors"),
)
BY_ID: dict[str, Category] = {c.id: c for c in CATEGORIES}
