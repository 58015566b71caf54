"""A bus node in its own process, for tests that must kill -9 a client.

Usage: bus_node.py PORT HALL NODE PASSWORD SESSION. Prints "connected" once on the bus.
"""

import sys
import time

from hall_common.bus.client import BusClient


def main() -> None:
    port, hall, node, password, session = sys.argv[1:6]
    bus = BusClient(hall_id=hall, node_id=node, kind="tool", host="127.0.0.1", port=int(port),
                    password=password, session=int(session), keepalive=10)
    bus.start()
    if not bus.wait_connected(10):
        sys.exit(f"not connected: {bus.refused}")
    print("connected", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
