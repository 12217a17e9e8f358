"""Fleet attestation sweep through the console's services: 200 lab nodes, database included.

    .venv/bin/python benchmarks/attestation_service_sweep.py [--count 200] [--rounds 3]

Builds a throwaway SQLite database (migrated), one site with N nodes seeded with the lab's
firmware release and configuration, starts the demo lab's TPM part (``run_lab``'s ``TpmLab``:
one swtpm + agent per node) and registers the agent endpoints. The first sweep enrols every node
(zero-touch MakeCredential/ActivateCredential) and attests it; then a few nodes are perturbed with
lab controls and ``apps.attestation.services.attestation_sweep`` is timed: plan from the
database, fresh nonce per node, quote, verification, replay, comparison with the acceptable sets,
explanation of mismatches, one bulk insert of the Attestation rows, audit of verdict changes.
Target: 200 nodes in under 10 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    """Run the benchmark and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="heatsite-attest-bench-") as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")
        import django

        django.setup()
        return run(Path(tmp), args)


def run(tmp: Path, args: argparse.Namespace) -> int:
    from collections import Counter

    from django.core.management import call_command

    from apps.attestation import services
    from apps.attestation.models import Attestation
    from apps.lab.management.commands.run_lab import TpmLab
    from apps.lab.tpm.seed import seed_lab_nodes
    from apps.sites.models import Node, Organisation, Site

    call_command("migrate", verbosity=0)
    partner = Organisation.objects.create(name="Bench partner")
    site = Site.objects.create(code="bench", name="Bench", partner=partner)
    Node.objects.bulk_create(Node(site=site, name=f"bench-{i:03d}") for i in range(args.count))
    nodes = list(Node.objects.order_by("id"))
    seed_lab_nodes(nodes)
    t0 = time.perf_counter()
    lab = TpmLab.from_db(tmp / "tpm", limit=args.count)
    lab.start()
    lab.register_endpoints()
    started = time.perf_counter() - t0
    ids = [n.pk for n in nodes]
    try:
        t0 = time.perf_counter()
        first = services.attestation_sweep(ids, workers=args.workers)
        enrol_s = time.perf_counter() - t0
        names = [n.name for n in nodes]
        lab.control({"node": names[1], "action": "plug-nic", "model": "nic-a", "slot": 2})
        lab.control({"node": names[2], "action": "plug-nic", "model": "nic-b", "slot": 3})
        lab.control({"node": names[3], "action": "boot-order", "order": [2, 1]})
        lab.control({"node": names[4], "action": "flash", "version": "1.5.0"})
        lab.control({"node": names[5], "action": "tamper-log"})
        lab.nodes[names[6]].agent.stop()
        rows = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            counts = services.attestation_sweep(ids, workers=args.workers)
            rows.append((time.perf_counter() - t0, counts))
    finally:
        lab.stop()
    print(
        f"lab start ({args.count} swtpm + agents + boot + endpoint registration): {started:.2f} s"
    )
    print(f"first sweep with zero-touch enrolment: {enrol_s:.2f} s ({first})\n")
    print("| round | nodes | workers | sweep s | nodes/s | verdicts |")
    print("|---|---|---|---|---|---|")
    for i, (took, counts) in enumerate(rows, 1):
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
        rate = len(ids) / took
        print(f"| {i} | {len(ids)} | {args.workers} | {took:.2f} | {rate:.0f} | {verdicts} |")
    latest = Attestation.objects.filter(node__name__in=names[:7]).order_by("node__name", "-at")
    seen = Counter()
    for a in latest:
        if seen[a.node_id]:
            continue
        seen[a.node_id] += 1
        print(f"  {a.node.name}: {a.verdict} {a.reason[:100]}")
    worst = max(took for took, _ in rows)
    print(
        f"\nworst sweep {worst:.2f} s for {args.count} nodes through the services "
        f"(target < 10 s): {'OK' if worst < 10 else 'MISSED'}"
    )
    return 0 if worst < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
