"""The edge agent stays a short list of components: the limits issue 21 set, and every
request method of the contract answered by exactly one component."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from edge_agent.agent import EdgeAgent
from hall_common.bus.methods import METHODS
from hall_common.config import EdgeConfig

ROOT = Path(__file__).resolve().parent.parent


def test_the_agent_is_short_and_no_edge_function_is_long():
    assert len((ROOT / "edge_agent" / "agent.py").read_text(encoding="utf-8").splitlines()) < 120
    long = []
    for path in sorted((ROOT / "edge_agent").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not long, f"functions over 60 lines: {long}"


def test_every_method_is_served_by_exactly_one_component(tmp_path):
    (tmp_path / "pw").write_text("x")
    config = EdgeConfig(hall_id="t1", hall_name="测试大厅", node_id="edge", data_dir=tmp_path / "edge",
                        broker={"port": 1, "password_file": tmp_path / "pw"}, http={"port": 1},
                        centre={"url": "http://127.0.0.1:1", "token_file": tmp_path / "pw"},
                        hardware={"gpio": "mock", "buzzer_pin": 18},
                        queue={"counters": [{"id": "c1", "name": "1", "services": ["consult"], "button_pin": 17}]})
    agent = EdgeAgent(config)  # built, never started: nothing connects
    try:
        served = Counter(method for c in agent.components for method in c.routes())
        assert set(served) == set(METHODS) and set(served.values()) == {1}, served
        assert len({type(c).name for c in agent.components}) == len(agent.components)  # one name each
        # One pin factory for every GPIO device of the agent.
        assert agent.queue.buttons.buttons["c1"].pin_factory is agent.pin_factory
        assert agent.buzzer.device.pin_factory is agent.pin_factory
    finally:
        agent.close()
