"""Polls per second the lab's Redfish faces sustain: 200 lab BMCs in one lab process.

One poll = GET the System (power state) + GET the chassis EnvironmentMetrics (watts), with TLS
verified against each BMC's own certificate. Measured two ways in one run, with a client of 200
asyncio tasks (one per BMC) in this process and the lab (``manage.py lab_bmc``, both faces) in
another, sharing the two cores:

1. keep-alive: one HTTP/1.1 connection per BMC, reused for every poll (what a poller that keeps
   its connections does);
2. a new TLS connection per poll (what a client sending ``Connection: close`` does).

Usage: .venv/bin/python benchmarks/lab_redfish.py [--count 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUTH = base64.b64encode(b"admin:password").decode()
PATHS = ("/redfish/v1/Systems/1", "/redfish/v1/Chassis/1/EnvironmentMetrics")


async def get(reader, writer, path: str, close: bool) -> None:
    connection = "close" if close else "keep-alive"
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {AUTH}\r\n"
        f"Connection: {connection}\r\n\r\n".encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head[:40])
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    await reader.readexactly(int(length.group(1)))


async def poller(port: int, context: ssl.SSLContext, stop: float, keep_alive: bool, out: list):
    async def connect():
        return await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"
        )

    reader = writer = None
    while time.monotonic() < stop:
        start = time.monotonic()
        if writer is None:
            reader, writer = await connect()
        if keep_alive:
            for path in PATHS:
                await get(reader, writer, path, close=False)
        else:
            for index, path in enumerate(PATHS):
                if index:
                    reader, writer = await connect()
                await get(reader, writer, path, close=True)
                writer.close()
            writer = None
        out.append(time.monotonic() - start)
    if writer is not None:
        writer.close()


async def measure(ports, contexts, seconds: float, keep_alive: bool) -> dict:
    latencies: list[float] = []
    start = time.monotonic()
    stop = start + seconds
    await asyncio.gather(
        *(poller(p, c, stop, keep_alive, latencies) for p, c in zip(ports, contexts, strict=True))
    )
    elapsed = time.monotonic() - start
    latencies.sort()
    return {
        "polls/s": len(latencies) / elapsed,
        "p50 ms": 1000 * statistics.median(latencies),
        "p95 ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--base-port", type=int, default=24000)
    parser.add_argument("--offset", type=int, default=1000)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="lab-redfish-bench-"))
    command = [
        sys.executable, "manage.py", "lab_bmc", "--count", str(args.count),
        "--base-port", str(args.base_port), f"--redfish-offset={args.offset}",
        "--redfish-state-dir", str(state),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    lab = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
    try:
        for line in lab.stdout:
            if line.startswith("Redfish:"):
                break
        else:
            raise SystemExit("the lab did not start")
        ports = [args.base_port + args.offset + i for i in range(args.count)]
        contexts = []
        for i in range(args.count):
            pem = (state / f"lab-node-{i + 1:03d}.pem").read_text()
            cert = pem[pem.index("-----BEGIN CERTIFICATE-----") :]
            contexts.append(ssl.create_default_context(cadata=cert))
        rows = [
            ("keep-alive, one connection per BMC", True),
            ("new TLS connection per request", False),
        ]
        print(f"{args.count} lab BMCs, {args.seconds:.0f} s each, 1 poll = {len(PATHS)} GETs\n")
        print("| client | polls/s | GETs/s | p50 ms | p95 ms |")
        print("|---|--:|--:|--:|--:|")
        for label, keep_alive in rows:
            result = asyncio.run(measure(ports, contexts, args.seconds, keep_alive))
            print(
                f"| {label} | {result['polls/s']:.0f} | {len(PATHS) * result['polls/s']:.0f} "
                f"| {result['p50 ms']:.1f} | {result['p95 ms']:.1f} |"
            )
    finally:
        lab.terminate()
        lab.wait(timeout=60)


if __name__ == "__main__":
    main()
