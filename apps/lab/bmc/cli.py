"""Command line for the lab BMCs (``manage.py lab_bmc`` and ``python -m apps.lab.bmc.cli``)."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from apps.lab.bmc.node import Faults
from apps.lab.bmc.server import LabBmcServer


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments shared by the management command and ``python -m``."""
    parser = parser or argparse.ArgumentParser(description="Run simulated IPMI BMCs on 127.0.0.1")
    parser.add_argument("--base-port", type=int, default=16230, help="first UDP port")
    parser.add_argument("--count", type=int, default=8, help="number of BMCs")
    parser.add_argument(
        "--config",
        help="JSON list of {port, username, password, name, "
        "nominal_power_w}; overrides --count/--base-port",
    )
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="password")
    parser.add_argument("--power-delay", type=float, default=0.0, help="seconds per transition")
    parser.add_argument("--max-sessions", type=int, default=16)
    parser.add_argument("--idle-timeout", type=float, default=60.0)
    parser.add_argument("--load", type=float, default=0.6, help="0.3-1.0 of nominal power")
    parser.add_argument("--loop-return", type=float, default=40.0, help="water loop return, °C")
    parser.add_argument("--unreachable", action="store_true", help="fault: drop all packets")
    parser.add_argument("--slow-ms", type=int, default=0, help="fault: delay replies")
    parser.add_argument("--wrong-credentials", action="store_true", help="fault: reject logins")
    parser.add_argument("--sessions-full", action="store_true", help="fault: no session slot")
    parser.add_argument("--stuck-power", action="store_true", help="fault: power never changes")
    parser.add_argument("--suites", choices=["3", "3,17", "17,3"], default="3,17")
    parser.add_argument("--no-dcmi", action="store_true", help="fault: no DCMI")
    parser.add_argument("--fru-read-cap", type=int, default=None, help="fault: FRU read cap")
    add_redfish_arguments(parser)
    return parser


def add_redfish_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the BMCs' Redfish (HTTPS) faces, shared with ``run_lab``."""
    from apps.lab.redfish.server import DEFAULT_PORT_OFFSET, DEFAULT_STATE_DIR

    parser.add_argument(
        "--redfish-offset",
        type=int,
        default=DEFAULT_PORT_OFFSET,
        help=f"Redfish HTTPS (TCP) port = IPMI (UDP) port + this (default {DEFAULT_PORT_OFFSET})",
    )
    parser.add_argument(
        "--redfish-state-dir",
        default=str(DEFAULT_STATE_DIR),
        help="where each BMC's self-signed certificate is kept",
    )
    parser.add_argument(
        "--redfish-update-seconds",
        type=float,
        default=30.0,
        help="how long a Redfish firmware update task runs before its image is staged",
    )
    parser.add_argument("--no-redfish", action="store_true", help="IPMI faces only")


def start_redfish(bmcs, args: argparse.Namespace):
    """Start the Redfish faces of ``bmcs`` unless ``--no-redfish``; returns the server or None."""
    if getattr(args, "no_redfish", False):
        return None
    from apps.lab.redfish import LabRedfishServer

    seconds = getattr(args, "redfish_update_seconds", 30.0)
    if not 0 <= seconds <= 3600:
        raise ConfigError("--redfish-update-seconds must be between 0 and 3600")
    return LabRedfishServer(
        bmcs,
        state_dir=args.redfish_state_dir,
        port_offset=args.redfish_offset,
        update_seconds=seconds,
    ).start()


class ConfigError(ValueError):
    """The --config file is not a usable list of BMCs."""


def load_config(path: str) -> tuple[int, list[dict]]:
    """Read a --config file; returns (base port, configs) for consecutive ports."""
    try:
        with open(path, encoding="utf-8") as handle:
            entries = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(entries, list) or not entries:
        raise ConfigError("the config must be a non-empty JSON list")
    if not all(isinstance(e, dict) and isinstance(e.get("port"), int) for e in entries):
        raise ConfigError("every entry needs an integer 'port'")
    entries = sorted(entries, key=lambda e: e["port"])
    base = entries[0]["port"]
    if [e["port"] for e in entries] != list(range(base, base + len(entries))):
        raise ConfigError("ports must be consecutive (one lab process serves one block)")
    return base, entries


def server_from_args(args: argparse.Namespace) -> LabBmcServer:
    """Build (not start) a `LabBmcServer` from parsed arguments."""
    faults = Faults(
        unreachable=args.unreachable,
        slow_ms=args.slow_ms,
        wrong_credentials=args.wrong_credentials,
        sessions_full=args.sessions_full,
        stuck_power=args.stuck_power,
        suite3_only=args.suites == "3",
        no_dcmi=args.no_dcmi,
        fru_read_cap=args.fru_read_cap,
    )
    base, configs = args.base_port, None
    if args.config:
        base, configs = load_config(args.config)
    return LabBmcServer(
        args.count,
        base_port=base,
        username=args.username,
        password=args.password,
        power_delay=args.power_delay,
        max_sessions=args.max_sessions,
        idle_timeout=args.idle_timeout,
        load=args.load,
        loop_return_c=args.loop_return,
        faults=faults,
        configs=configs,
    )


def run(args: argparse.Namespace, out=sys.stdout) -> None:
    """Start the lab and serve until SIGINT/SIGTERM."""
    lab = server_from_args(args).start()
    try:
        redfish = start_redfish(lab.bmcs, args)
    except OSError:
        lab.stop()
        raise
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(
        f"lab BMCs: {lab.count} on 127.0.0.1:{lab.port(0)}-{lab.port(lab.count - 1)} "
        f"(user {lab.bmc(0).username})",
        file=out,
        flush=True,
    )
    if redfish is not None:
        print(
            f"Redfish: https://127.0.0.1:{redfish.port(0)}-{redfish.port(lab.count - 1)} "
            f"(certificates in {args.redfish_state_dir})",
            file=out,
            flush=True,
        )
    try:
        lab.serve_forever()
    finally:
        if redfish is not None:
            redfish.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (ConfigError, OSError) as exc:
        print(f"lab_bmc: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
