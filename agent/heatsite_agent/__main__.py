"""Command line: ``python -m heatsite_agent --tcti device:/dev/tpmrm0 --token-file FILE ...``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .server import Agent, AgentConfig, ensure_certificate


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, make sure a TLS certificate exists, print its fingerprint, serve."""
    p = argparse.ArgumentParser(prog="heatsite-agent", description=__doc__)
    p.add_argument("--tcti", default="device:/dev/tpmrm0", help="TPM TCTI string")
    p.add_argument(
        "--eventlog",
        default="/sys/kernel/security/tpm0/binary_bios_measurements",
        help="binary TCG event log file",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443)
    p.add_argument("--token-file", required=True, help="file holding the enrolment token")
    p.add_argument("--state-dir", default="/var/lib/heatsite-agent", help="TLS key/cert location")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        token = Path(args.token_file).read_bytes().strip()
    except OSError as exc:
        print(f"heatsite-agent: cannot read token file: {exc.strerror}", file=sys.stderr)
        return 2
    if not token:
        print("heatsite-agent: the token file is empty", file=sys.stderr)
        return 2
    state = Path(args.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    cert, key = str(state / "agent-cert.pem"), str(state / "agent-key.pem")
    fp = ensure_certificate(cert, key)
    print(f"heatsite-agent: TLS certificate sha256 fingerprint {fp}", flush=True)
    config = AgentConfig(args.tcti, args.eventlog, args.host, args.port, token, cert, key)
    Agent(config).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
