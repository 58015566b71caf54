"""The start of every hall process: read ``--config``, validate it, set up logs.

A configuration error ends the process with one plain line (file, key, what is wrong) and
exit status 2, never a traceback: systemd shows that line, ``hall up`` prints it.
"""

from __future__ import annotations

import argparse
import sys
from typing import TypeVar

from hall_common import logs, malloc
from hall_common.bus.client import BusClient
from hall_common.config import NodeConfig, PartConfig, load
from hall_common.errors import ConfigError
from hall_common.private_files import next_session

C = TypeVar("C", bound=PartConfig)


def start_part(schema: type[C], prog: str, argv: list[str] | None = None) -> C:
    """Parse ``--config FILE``, load it against ``schema`` and configure logging. First tunes
    the C allocator, so memory the part frees goes back to the system (:mod:`hall_common.malloc`)."""
    malloc.tune()
    parser = argparse.ArgumentParser(prog=prog, description=f"Run {prog}.")
    parser.add_argument("--config", required=True, help="the part's TOML configuration file")
    args = parser.parse_args(argv)
    try:
        config = load(schema, args.config)
    except ConfigError as exc:
        print(f"{prog}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if isinstance(config, NodeConfig):
        logs.configure(hall=config.hall_id, node=config.node_id, level=config.log_level, file=config.log_file,
                       keep_days=config.log_keep_days)
    else:
        logs.configure(hall="-", node=prog, level=config.log_level, file=config.log_file,
                       keep_days=config.log_keep_days)
    return config


def node_bus(config: NodeConfig, *, kind: str, sw: str, **options: object) -> BusClient:
    """A bus client for the node ``config`` describes (not started yet).

    The session counter grows on each call, so call it once per process start.
    """
    return BusClient(
        hall_id=config.hall_id,
        node_id=config.node_id,
        kind=kind,
        host=config.broker.host,
        port=config.broker.port,
        password=config.broker.password(),
        session=next_session(config.data_dir / "session"),
        sw=sw,
        keepalive=config.broker.keepalive,
        ca_file=config.broker.ca_file,
        **options,  # type: ignore[arg-type]
    )
