"""Demo disclosures for a new hall (``hall up``), so a first-time user finds the kiosk's
公示信息 screens filled: one item in some of the categories of seed 000 clause 4.8. Published
once, only into a centre that has no disclosure yet, through the same checks as the form."""

from __future__ import annotations

from central_sync.store import Store, migrate

from . import disclosure_doc as doc
from .schema import MIGRATIONS

DEMO: tuple[dict[str, str], ...] = (
    {"category": "fees", "title": "2026 年度物业服务收费标准", "effective_date": "2026-01-01",
     "body": "依据物业服务合同及市发改委备案标准收取，按月缴纳，可在自助机扫码、前台或银行代扣缴费。",
     "table": "项目 | 标准 | 依据\n物业服务费（住宅）| 2.30 元/㎡·月 | 物业服务合同第五条\n"
              "物业服务费（商铺）| 4.50 元/㎡·月 | 物业服务合同第五条\n地面停车服务费 | 150 元/个·月 | 备案价格"},
    {"category": "repair_fund", "title": "2025 年第四季度专项维修资金使用情况", "effective_date": "2025-12-31",
     "body": "本季度经业主大会表决同意，使用专项维修资金更换 3 栋 1 单元电梯主机，共计 186,000 元。"
             "资金由住房专项维修资金管理中心直接拨付施工单位，票据可在服务中心查阅。",
     "table": "项目 | 金额（元）| 表决结果\n3 栋 1 单元电梯主机更换 | 186000 | 同意 78%"},
    {"category": "contractors", "title": "电梯、供水、供电设施设备维保单位", "effective_date": "2026-01-01",
     "body": "以下单位负责本项目设施设备的日常维修保养，维保记录每月公示。",
     "table": "设施 | 单位 | 资质 | 联系电话 | 最近维保\n电梯 | 成都安达电梯工程有限公司 | 特种设备安装改造维修许可 A 级 | 028-8555 1200 | 2026-01-15 半月保养\n"
              "二次供水 | 蓉城水务设施服务有限公司 | 卫生许可 | 028-8555 3300 | 2026-01-10 水箱清洗"},
    {"category": "manager", "title": "项目负责人及投诉电话", "effective_date": "2026-01-01",
     "body": "项目经理：李明（物业管理师）\n服务中心电话：028-8765 4321\n投诉电话：028-8765 4399（24 小时）"},
)


def seed(store: Store, *, user: str = "demo") -> int:
    """Publish the demo items to every hall unless the centre already has disclosures;
    returns how many were published."""
    if store.scalar("SELECT count(*) FROM content WHERE kind = 'disclosure'"):
        return 0
    with store.transaction():
        for item in DEMO:
            doc.publish(store, doc.check(item), hall="*", user=user)
    return len(DEMO)


def seed_url(url: str) -> int:
    """:func:`seed` into the centre database at ``url`` (migrated first)."""
    store = Store.connect(url)
    try:
        migrate(store, MIGRATIONS)
        return seed(store)
    finally:
        store.close()
