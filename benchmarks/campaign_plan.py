"""Planning a firmware campaign over 10,000 sites × 25 nodes (issue 12): target < 2 s.

Builds the planner's plain rows in memory (what `apps.firmware.campaign_inputs` fetches) with a
realistic mix: four hardware classes (two BIOS versions × two NIC sets), 2 % of nodes without a
prediction, 1 % with an unknown live draw, 3 % already up to date, and times `campaign_plan` (the
same entry the page, API and command use) with the default strategy and a percentage heat
budget. Median of 5 runs after one warm-up.

    .venv/bin/python benchmarks/campaign_plan.py [--sites 10000] [--nodes-per-site 25]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")

from apps.firmware.campaign_plan import (
    BundleRow,
    NodeRow,
    PlanInputs,
    SiteRow,
    Strategy,
    campaign_plan,
)

PCRS_A = tuple((str(i), f"{i:02x}" * 32) for i in range(8))
PCRS_B = tuple((str(i), f"{i + 1:02x}" * 32) for i in range(8))


def build(sites: int, per_site: int) -> PlanInputs:
    bundle = BundleRow(1, "HS-EDGE-1", "1.5.0", (("BMC", "2.50"), ("BIOS", "1.5.0")))
    site_rows = {}
    nodes = []
    n = 0
    for s in range(sites):
        output = 0.0
        unknown = 0
        for i in range(per_site):
            n += 1
            draw = None if n % 100 == 0 else 300.0 + (n % 7) * 25
            if draw is None:
                unknown += 1
            else:
                output += draw
            current = "1.5.0" if n % 33 == 0 else ("1.4.0" if n % 2 else "1.3.2")
            nics = ("X710",) if n % 3 else ("X710", "CX6")
            predicted = n % 50 != 0
            nodes.append(
                NodeRow(
                    id=n,
                    name=f"n{s:05d}-{i:02d}",
                    site_id=s,
                    power_w=draw,
                    versions={"bmc": "2.50" if current == "1.5.0" else "2.42", "bios": current},
                    nics=nics,
                    prediction=(PCRS_A if n % 3 else PCRS_B) if predicted else None,
                    reason_code="" if predicted else "unapproved_variant",
                    reason="" if predicted else "measured outside its configuration",
                )
            )
        site_rows[s] = SiteRow(s, f"site-{s:05d}", f"Site {s}", "Europe/Paris", output, unknown, 1)
    return PlanInputs(bundle=bundle, nodes=nodes, sites=site_rows)


def timed(inputs: PlanInputs, strategy: Strategy, runs: int = 5) -> tuple[float, object]:
    campaign_plan(inputs, strategy)  # warm-up
    times = []
    plan = None
    for _ in range(runs):
        t0 = time.perf_counter()
        plan = campaign_plan(inputs, strategy)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--nodes-per-site", type=int, default=25)
    args = parser.parse_args()
    t0 = time.perf_counter()
    inputs = build(args.sites, args.nodes_per_site)
    built = time.perf_counter() - t0
    print(f"built {len(inputs.nodes):,} node rows in {built:.2f} s\n")
    print("| strategy | nodes | eligible | waves | excluded | classes | median s | target |")
    print("|---|--:|--:|--:|--:|--:|--:|---|")
    for label, strategy in (
        ("canary, 5%,25%,rest, 1 down/site", Strategy()),
        (
            "canary, 5%,25%,rest, 2 down/site, ≤ 10 % of site heat",
            Strategy(max_down_per_site=2, max_site_loss_pct=10),
        ),
    ):
        seconds, plan = timed(inputs, strategy)
        t1 = time.perf_counter()
        plan.as_dict()
        as_dict = time.perf_counter() - t1
        verdict = "met" if seconds + as_dict < 2 else "MISSED"
        print(
            f"| {label} | {len(inputs.nodes):,} | {plan.eligible:,} | {len(plan.waves)} | "
            f"{len(plan.excluded):,} | {len(plan.classes)} | {seconds:.2f} "
            f"(+{as_dict:.2f} as_dict) | < 2 s: {verdict} |"
        )


if __name__ == "__main__":
    main()
