"""``python -m edge_agent --config edge.toml``: run the edge agent and its staff console."""

from __future__ import annotations

from hall_common.config import EdgeConfig
from hall_common.runner import start_part
from hall_common.web import serve


def main(argv: list[str] | None = None) -> None:
    config = start_part(EdgeConfig, "edge_agent", argv)
    from . import create_app
    from .agent import EdgeAgent

    agent = EdgeAgent(config)
    app = create_app(config, services=agent.services)
    agent.start()
    serve(app, config.http, on_stop=agent.close)


if __name__ == "__main__":
    main()
