"""Fleet attestation sweep: N lab nodes (swtpm + agent each), quote -> verify -> compare.

    .venv/bin/python benchmarks/attestation_sweep.py [--count 200] [--workers 16] [--rounds 3]

Starts N swtpm processes and N agents (threads, pinned HTTPS + HMAC), enrols every node
(MakeCredential/ActivateCredential), perturbs a few nodes with lab controls so that every verdict
path runs, then times full sweeps: fresh nonce, agent quote over sha256 PCR0-7 + event log,
signature/nonce/selection/digest check, log replay, comparison with the acceptable PCR sets
(approved variants), explanation for mismatches. Target: 200 nodes in under 10 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")

from apps.lab.tpm.node import start_fleet
from apps.lab.tpm.sweep import enrol, sweep


def main() -> int:
    """Run the benchmark and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="heatsite-sweep-") as tmp:
        t0 = time.perf_counter()
        fleet = start_fleet(args.count, Path(tmp))
        started = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=8) as pool:
                enrolled = list(pool.map(enrol, fleet.nodes))
            enrol_s = time.perf_counter() - t0
            # Perturb a few nodes so every verdict path is exercised in the sweep.
            n = fleet.nodes
            n[1].plug_nic("nic-a")  # approved variant: trusted
            n[2].plug_nic("nic-b", slot=3)  # unapproved card: mismatch PCR2
            n[3].set_boot_order((2, 1))  # mismatch PCR1
            n[4].flash("1.5.0")  # mismatch PCR0
            n[5].tamper_log()  # invalid evidence
            n[6].agent.stop()  # unreachable
            rows = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                results = sweep(enrolled, workers=args.workers)
                rows.append((time.perf_counter() - t0, results))
        finally:
            fleet.stop()
    print(f"lab start ({args.count} swtpm + agents + boot): {started:.2f} s")
    print(f"enrolment (EK, AK, MakeCredential/ActivateCredential): {enrol_s:.2f} s\n")
    print("| round | nodes | workers | sweep s | nodes/s | p50 ms | p95 ms | verdicts |")
    print("|---|---|---|---|---|---|---|---|")
    for i, (took, results) in enumerate(rows, 1):
        per = sorted(r.seconds * 1000 for r in results)
        verdicts = ", ".join(
            f"{k} {v}" for k, v in sorted(Counter(r.verdict for r in results).items())
        )
        print(
            f"| {i} | {len(results)} | {args.workers} | {took:.2f} | {len(results) / took:.0f} | "
            f"{statistics.median(per):.1f} | {per[int(len(per) * 0.95) - 1]:.1f} | {verdicts} |"
        )
    for r in rows[-1][1][:7]:
        print(f"  {r.node}: {r.verdict} {r.reason[:110]}")
    worst = max(took for took, _ in rows)
    print(
        f"\nworst sweep {worst:.2f} s for {args.count} nodes (target < 10 s): "
        f"{'OK' if worst < 10 else 'MISSED'}"
    )
    return 0 if worst < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
