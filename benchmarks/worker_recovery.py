"""Time from a worker's SIGKILL (main process and pool) to its power action done on another
worker, on Redis and on RabbitMQ, with the production heartbeat TTL.

    .venv/bin/python benchmarks/worker_recovery.py [--rounds 3] [--ttl 15]

Runs tests/ops/test_worker_recovery.py (a real lab BMC, two real prefork workers sharing a
queue, the first killed while it holds an action) ``--rounds`` times with
``WORKER_HEARTBEAT_TTL=--ttl`` and prints the measured times. On Redis the test runs the orphan
check continuously; in production the beat runs it every POWER_RECOVER_INTERVAL (10 s), which
adds up to that much: the bound is TTL + interval. RabbitMQ needs no check (it requeues when the
dead worker's connection drops).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ttl", type=int, default=15)
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as report:
        env = {**os.environ, "HEATSITE_RECOVERY_REPORT": report.name,
               "HEATSITE_RECOVERY_TTL": str(args.ttl)}  # fmt: skip
        for n in range(args.rounds):
            print(f"round {n + 1}/{args.rounds} ...", flush=True)
            done = subprocess.run(
                [str(ROOT / ".venv/bin/pytest"), "tests/ops/test_worker_recovery.py", "-q",
                 "-p", "no:randomly"], cwd=ROOT, env=env, capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode:
                sys.exit(done.stdout[-3000:])
        rows = [json.loads(line) for line in Path(report.name).read_text().splitlines()]
    print(f"\nheartbeat TTL {args.ttl} s, orphan check every POWER_RECOVER_INTERVAL (10 s)\n")
    print("| broker | runs | median s | max s | bound in production |")
    print("|---|--:|--:|--:|---|")
    for broker in ("rabbitmq", "redis"):
        times = [r["seconds"] for r in rows if r["broker"] == broker]
        bound = "requeued when the connection drops" if broker == "rabbitmq" else (
            f"TTL + interval = {args.ttl + 10} s")  # fmt: skip
        print(f"| {broker} | {len(times)} | {statistics.median(times):.1f} | "
              f"{max(times):.1f} | {bound} |")  # fmt: skip


if __name__ == "__main__":
    main()
