"""``python -m central_sync.server --config central.toml``: serve the central server."""

from __future__ import annotations

from hall_common.config import CentralConfig
from hall_common.runner import start_part
from hall_common.web import serve


def main(argv: list[str] | None = None) -> None:
    config = start_part(CentralConfig, "central_sync.server", argv)
    from . import create_app

    serve(create_app(config), config.http)


if __name__ == "__main__":
    main()
