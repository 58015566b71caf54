"""``hall``: the command line for running and checking a service hall.

    hall up                 the whole hall on this machine, with simulated devices
    hall doctor             check broker, edge, nodes, databases, sync and centre
    hall provision          issue or revoke a node's credential for the centre
    hall broker-config      write mosquitto.conf for an edge Pi
    hall resident-qr        write a household's resident QR code (PNG) for the kiosk camera
    hall centre-user        add, list and give halls to the centre's console users
    hall join URL CODE      make this Pi a device of its hall with the centre's one-time code
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from hall_common.errors import ConfigError

from . import centre_users, join

DEFAULT_DATA = Path("var/hall")


def cmd_up(args: argparse.Namespace) -> int:
    from .broker import BrokerError
    from .plan import HallPlan, prepare
    from .supervisor import StartError, Supervisor

    try:
        plan = HallPlan.load(args.hall)
        layout = prepare(args.data_dir, plan, base_port=args.base_port, host=args.host)
    except (ConfigError, BrokerError) as exc:
        print(f"hall up: {exc}", file=sys.stderr)
        return 2
    sup = Supervisor(layout)
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"hall: starting {plan.hall_name} ({plan.hall_id}) in {layout.data_dir}", flush=True)
    try:
        sup.start_all()
    except StartError as exc:
        print(f"hall up: {exc}", file=sys.stderr)
        sup.stop_all()
        return 1
    width = max(len(k) for k in [*layout.urls, *layout.folders, *layout.files])
    lines = [f"\nService hall {plan.hall_name} ({plan.hall_id}) is up:"]
    for name, url in layout.urls.items():
        login = layout.logins.get(name)
        lines.append(f"  {name:<{width}}  {url}" + (f"   login: {login[0]} / {login[1]}" if login else ""))
    for name, folder in layout.folders.items():
        lines.append(f"  {name:<{width}}  {folder}   (drop a photo of a receipt's QR code here, then tap Scan on Track)")
    for name, path in layout.files.items():
        lines.append(f"  {name:<{width}}  {path}   (copy it into a camera folder, then tap 账单缴费 > Scan)")
    lines.append(f"  {'logs':<{width}}  {layout.data_dir / 'logs'}")
    lines.append(_test_print(layout, plan, width))
    if plan.open_around_the_clock:
        lines.append("  The demo hall is open around the clock (open_around_the_clock in the hall description).")
    lines.append("Press Ctrl-C to stop.\n")
    print("\n".join(lines), flush=True)
    while not stopping:
        sup.watch_once()
        time.sleep(0.3)
    print("hall: stopping ...", flush=True)
    sup.stop_all()
    print("hall: stopped.", flush=True)
    return 0


def _test_print(layout, plan, width: int) -> str:
    """Print a test ticket through the edge and say where its picture is."""
    from hall_common.config import DoctorConfig, load

    from .doctor import print_test_ticket
    from .plan import DOCTOR_NODE

    doctor = load(DoctorConfig, layout.data_dir / "config" / f"{DOCTOR_NODE}.toml")
    period = plan.kiosk_settings.hours.periods[0]
    kiosk_url = next((u for k, u in layout.urls.items() if k.startswith("kiosk ")), "")
    status, printer = print_test_ticket(doctor, follow_url=kiosk_url, hours_line=f"服务时间 {period.open}-{period.close}")
    where = ""
    if printer is not None:
        pngs = sorted((layout.data_dir / "printer" / printer).glob("job-*.png"))
        where = f": {pngs[-1]}" if pngs else ""
    return f"  {'test ticket':<{width}}  {status} on {printer or 'no printer'}{where}"


def cmd_doctor(args: argparse.Namespace) -> int:
    from . import doctor

    config_dir = args.config_dir or args.data_dir / "config"
    return doctor.run(config_dir)


def cmd_broker_config(args: argparse.Namespace) -> int:
    from .broker import TlsListener, render_bridge, render_config

    tls, bind = None, args.bind
    if args.tls:
        if not (args.cafile and args.certfile and args.keyfile):
            print("hall broker-config: --tls needs --cafile, --certfile and --keyfile (docs/install-pi.md, Certificates)",
                  file=sys.stderr)
            return 2
        tls = TlsListener(args.cafile, args.certfile, args.keyfile, port=args.tls_port, bind=args.bind)
        if tls.missing():
            print(f"hall broker-config: no such file: {', '.join(tls.missing())}", file=sys.stderr)
            return 2
        bind = "127.0.0.1"  # plain MQTT only for the processes on this Pi; the hall network gets TLS
    extra = ""
    if args.bridge_address:
        if not (args.bridge_hall and args.bridge_password_file):
            print("hall broker-config: --bridge-address needs --bridge-hall and --bridge-password-file", file=sys.stderr)
            return 2
        bridge_dir = args.out_dir / "bridge.d"
        bridge_dir.mkdir(parents=True, exist_ok=True)
        render_bridge(bridge_dir, hall=args.bridge_hall, address=args.bridge_address,
                      password=args.bridge_password_file.read_text(encoding="utf-8").strip())
        extra = f"include_dir {bridge_dir}"
    conf = render_config(args.out_dir, port=args.port, bind=bind, user=args.user,
                         password_file=args.password_file, extra=extra, tls=tls)
    print(conf)
    return 0


def cmd_provision(args: argparse.Namespace) -> int:
    from . import provision

    if args.revoke:
        ok = provision.revoke(args.database_url, args.hall, args.node)
        print(f"hall provision: {args.hall}/{args.node} {'revoked' if ok else 'had no active credential'}")
        return 0 if ok else 1
    if not args.out or not args.hall_name:
        print("hall provision: --out and --hall-name are needed to issue a credential", file=sys.stderr)
        return 2
    provision.provision(args.database_url, args.hall, args.hall_name, args.node, args.out)
    print(f"hall provision: credential for {args.hall}/{args.node} written to {args.out} (mode 600)")
    return 0


def cmd_resident_qr(args: argparse.Namespace) -> int:
    from .resident_codes import hall_of, write_code

    try:
        hall_id = args.hall_id or hall_of(args.data_dir)
        out = args.out or args.data_dir / "resident-qr" / f"{args.room}.png"
        key = args.key_file or args.data_dir / "secrets/centre/config_signing.key"
        write_code(key, hall_id, args.room, out, days=args.days)
    except (ConfigError, ValueError) as exc:
        print(f"hall resident-qr: {exc}", file=sys.stderr)
        return 2
    print(f"hall resident-qr: code for {hall_id} room {args.room} written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hall", description="Run and check a property-management service hall.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="bring the whole hall up on this machine with simulated devices")
    up.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="where the hall keeps its data (default var/hall)")
    up.add_argument("--base-port", type=int, default=18800, help="first of 30 ports the hall uses (default 18800)")
    up.add_argument("--hall", type=Path, default=None, help="hall description (default firmware_configs/hall.sample.toml)")
    up.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    up.set_defaults(func=cmd_up)

    doc = sub.add_parser("doctor", help="check broker, edge agent, nodes, databases and centre")
    doc.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="data directory of `hall up` (default var/hall)")
    doc.add_argument("--config-dir", type=Path, default=None, help="folder of the parts' TOML files (default DATA/config)")
    doc.set_defaults(func=cmd_doctor)

    pv = sub.add_parser("provision", help="issue (or revoke) a node's credential for the centre")
    pv.add_argument("--database-url", required=True, help="the central database (sqlite:///... or postgresql://...)")
    pv.add_argument("--hall", required=True, help="hall id")
    pv.add_argument("--hall-name", help="hall name, registered with the hall")
    pv.add_argument("--node", required=True, help="node id, e.g. edge")
    pv.add_argument("--out", type=Path, help="file to write the credential to (mode 600)")
    pv.add_argument("--revoke", action="store_true", help="revoke the node's credential instead")
    pv.set_defaults(func=cmd_provision)

    bc = sub.add_parser("broker-config", help="write mosquitto.conf for an edge Pi from the project's template")
    bc.add_argument("--out-dir", type=Path, required=True, help="folder for mosquitto.conf and the broker's persistence")
    bc.add_argument("--port", type=int, default=1883, help="MQTT port (default 1883)")
    bc.add_argument("--bind", default="0.0.0.0", help="address to listen on (default all)")
    bc.add_argument("--user", default="mosquitto", help="user mosquitto runs as (default mosquitto)")
    bc.add_argument("--password-file", type=Path, default=None, help="the hall's password file")
    bc.add_argument("--bridge-address", help="central broker host:port to bridge the hall's live views to")
    bc.add_argument("--bridge-hall", help="the hall id (its user name at the central broker)")
    bc.add_argument("--bridge-password-file", type=Path, help="the hall's password at the central broker")
    bc.add_argument("--tls", action="store_true",
                    help="production: listen with TLS on --tls-port at --bind, and plain MQTT on 127.0.0.1 only")
    bc.add_argument("--tls-port", type=int, default=8883, help="the TLS listener's port (default 8883)")
    bc.add_argument("--cafile", type=Path, help="with --tls: the CA certificate the nodes trust (PEM)")
    bc.add_argument("--certfile", type=Path, help="with --tls: the broker's certificate, signed by that CA (PEM)")
    bc.add_argument("--keyfile", type=Path, help="with --tls: the broker's private key (PEM, readable by mosquitto only)")
    bc.set_defaults(func=cmd_broker_config)
    rq = sub.add_parser("resident-qr", help="write a household's resident QR code (PNG), signed with the centre's key")
    rq.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="data directory of `hall up` (default var/hall)")
    rq.add_argument("--room", required=True, help="building-unit-room, e.g. 3-2-1201")
    rq.add_argument("--hall-id", help="hall id (default: the one of DATA/config/edge.toml)")
    rq.add_argument("--key-file", type=Path, help="the centre's signing key (default DATA/secrets/centre/config_signing.key)")
    rq.add_argument("--out", type=Path, help="PNG to write (default DATA/resident-qr/ROOM.png)")
    rq.add_argument("--days", type=float, default=365, help="days the code is valid (default 365)")
    rq.set_defaults(func=cmd_resident_qr)
    centre_users.register(sub)
    join.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if getattr(args, "hall", "x") is None:
        from .plan import SAMPLE_HALL

        args.hall = SAMPLE_HALL
    sys.exit(args.func(args))
