"""Planning a firmware campaign over 10,000 sites × 25 nodes (issue 12): target < 2 s.

Builds the planner's plain rows in memory (what `apps.firmware.campaign_inputs` fetches) with a
realistic mix: four hardware classes (two BIOS versions × two NIC sets), 2 % of nodes without a
prediction, 1 % with an unknown live draw, 3 % already up to date, and times `campaign_plan` (the
same entry the page, API and command use) with the default strategy and a percentage heat
budget. Median of 5 runs after one warm-up.

``--database`` also measures the whole path a dry run takes (`campaign_preview`: the file
checked, the bundle found, `campaign_inputs`' queries, the plan) on a PostgreSQL database of its
own, ``heatsite_bench_campaign`` on ``postgres://postgres@127.0.0.1:5432`` (override with
CAMPAIGN_BENCH_SERVER_URL), created, migrated and filled with the same fleet when it does not
already hold it (``--reseed`` forces it). ``--ab REV`` adds an A/B in the same process
against the same database: `campaign_inputs` as it was at git revision REV against the
current one, alternating, the plans compared.

    .venv/bin/python benchmarks/campaign_plan.py [--sites 10000] [--nodes-per-site 25]
        [--database] [--reseed] [--ab REV] [--ab-runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")
DB_NAME = "heatsite_bench_campaign"
BENCH_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "benchmark-only-secret-key-not-for-production",
    "CREDENTIAL_KEYS": "ZGV2LW9ubHktY3JlZGVudGlhbC1rZXktMzJieXRlcyE=",
    "CHANNELS_IN_MEMORY": "1",
    "LOG_LEVEL": "WARNING",
}

from apps.firmware.campaign_plan import (  # noqa: E402 (after the path is set)
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


def _config(nics: tuple[str, ...]) -> dict:
    """A node configuration as `config_to_json` stores it, one option ROM per card."""
    return {
        "secure_boot": True,
        "boot_order": [1, 2],
        "boot_binaries": [{"path": "EFI/BOOT/BOOTX64.EFI", "digests": {"sha256": "5a" * 32}}],
        "option_roms": [
            {
                "pci_path": f"0000:{0x3B + i:02x}:00.0",
                "name": nic,
                "digests": [{"sha256": f"{i + 1:02x}" * 32}],
                "ranges": [[0, 65536]],
            }
            for i, nic in enumerate(nics)
        ],
    }


def seed(inputs: PlanInputs) -> None:
    """Writes the in-memory fleet into the (empty, migrated) benchmark database."""
    from django.utils import timezone

    from apps.attestation.models import FirmwareRelease, NodeConfiguration, PlatformProfile
    from apps.firmware.models import (
        BundleComponent,
        BundlePrediction,
        FirmwareBundle,
        FirmwareImage,
        prediction_class,
    )
    from apps.hardware.models import BmcFacts
    from apps.sites.models import Node, Organisation, Site

    partner = Organisation.objects.create(name="Bench partner")
    sites = Site.objects.bulk_create(
        [Site(code=s.code, name=s.name, partner=partner) for s in inputs.sites.values()],
        batch_size=5000,
    )
    site_ids = {row.id: site.pk for row, site in zip(inputs.sites.values(), sites, strict=True)}
    b = inputs.bundle
    profile = PlatformProfile.objects.create(sku=b.sku)
    release = FirmwareRelease.objects.create(profile=profile, version="1.4.0")
    bundle = FirmwareBundle.objects.create(
        profile=profile,
        version=b.version,
        manifest={},
        manifest_sha256="b" * 64,
        measurement_source="artefacts",
        signature_alg="ed25519",
        signature_key_id="bench",
        signature_key_sha256="e" * 64,
        signature="",
    )
    for position, (component, version) in enumerate(b.components):
        image = FirmwareImage.objects.create(
            component=component,
            version=version,
            sku=b.sku,
            sha256=f"{position}" * 64,
            size=1,
            file=f"bench/{component}.bin",
        )
        BundleComponent.objects.create(
            bundle=bundle,
            position=position,
            component=component,
            version=version,
            image=image,
            file_name=f"{component}.hsfw",
        )
    now = timezone.now()
    # bulk_create skips save(): the prediction class is computed here, once per distinct vector
    digests = {None: ""}
    for r in inputs.nodes:
        if r.prediction not in digests:
            digests[r.prediction] = prediction_class(dict(r.prediction))
    for start in range(0, len(inputs.nodes), 20_000):
        rows = inputs.nodes[start : start + 20_000]
        nodes = Node.objects.bulk_create(
            [
                Node(
                    name=r.name,
                    site_id=site_ids[r.site_id],
                    model=b.sku,
                    power_w=r.power_w,
                    bmc_protocol=Node.BmcProtocol.REDFISH,
                )
                for r in rows
            ],
            batch_size=5000,
        )
        # every node has its recorded configuration (what its predictions come from), its
        # cards' option ROMs as the attestation stores them. bulk_create skips save(): the
        # models' querysets compute the stored cards and versions digest here.
        NodeConfiguration.objects.bulk_create(
            [
                NodeConfiguration(node=n, release=release, config=_config(r.nics))
                for n, r in zip(nodes, rows, strict=True)
            ],
            batch_size=5000,
        )
        BmcFacts.objects.bulk_create(
            [
                BmcFacts(
                    node=n,
                    firmware=[
                        {"component": c.upper(), "version": v} for c, v in r.versions.items()
                    ],
                )
                for n, r in zip(nodes, rows, strict=True)
            ],
            batch_size=5000,
        )
        BundlePrediction.objects.bulk_create(
            [
                BundlePrediction(
                    bundle=bundle,
                    node=n,
                    pcrs=dict(r.prediction) if r.prediction else None,
                    pcrs_digest=digests[r.prediction],
                    reason_code=r.reason_code,
                    reason=r.reason,
                    computed_at=now,
                )
                for n, r in zip(nodes, rows, strict=True)
            ],
            batch_size=5000,
        )


SEED_CHECK = """
    SELECT (SELECT count(*) FROM sites_node WHERE bmc_protocol = 'redfish'),
           (SELECT count(*) FROM attestation_nodeconfiguration),
           (SELECT count(*) FROM firmware_bundleprediction WHERE pcrs_digest <> ''),
           (SELECT count(*) FROM attestation_nodeconfiguration WHERE cards <> ''),
           (SELECT count(*) FROM hardware_bmcfacts WHERE versions_digest <> '')
"""


def backend_cpu() -> float | None:
    """CPU seconds used so far by this connection's PostgreSQL backend (None when the server
    is not on this Linux host): with the process's own, a figure the machine's load inflates
    far less than the wall clock."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_database(args: argparse.Namespace) -> dict:
    """In the child process (DATABASE_URL set): seed when needed, then time the dry run (and
    its two halves, the inputs and the plan, separately)."""
    import django

    django.setup()
    from django.db import connection

    from apps.firmware.campaign_inputs import campaign_bundle, campaign_inputs
    from apps.firmware.campaign_services import campaign_preview
    from apps.firmware.campaign_spec import spec_load
    from apps.sites.models import Node

    expected = args.sites * args.nodes_per_site
    seeded = None
    if Node.objects.count() != expected:
        t0 = time.perf_counter()
        seed(build(args.sites, args.nodes_per_site))
        seeded = time.perf_counter() - t0
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    spec = {"bundle": {"sku": "HS-EDGE-1", "version": "1.5.0"}}
    campaign_preview(spec=spec)  # warm-up
    load = [os.getloadavg()[0]]
    whole, inputs_s, plan_s, cpu, pg_cpu = [], [], [], [], []
    for _ in range(args.runs):
        pg0, c0 = backend_cpu(), time.process_time()
        t0 = time.perf_counter()
        _, plan = campaign_preview(spec=spec)
        whole.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        pg1 = backend_cpu()
        pg_cpu.append(pg1 - pg0 if pg0 is not None and pg1 is not None else 0.0)
        checked = spec_load(spec)
        t0 = time.perf_counter()
        inputs = campaign_inputs(bundle=campaign_bundle(checked), targets=checked.targets)
        t1 = time.perf_counter()
        campaign_plan(inputs, checked.strategy)
        t2 = time.perf_counter()
        inputs_s.append(t1 - t0)
        plan_s.append(t2 - t1)
        load.append(os.getloadavg()[0])
    return {
        "seconds": statistics.median(whole),
        "all": whole,
        "inputs": statistics.median(inputs_s),
        "plan": statistics.median(plan_s),
        "cpu": statistics.median(cpu),
        "pg_cpu": statistics.median(pg_cpu),
        "eligible": plan.eligible,
        "excluded": len(plan.excluded),
        "classes": len(plan.classes),
        "waves": len(plan.waves),
        "seeded": seeded,
        "load": [min(load), max(load)],
        "ab": ab_inputs(args, spec) if args.ab else None,
    }


def module_at(rev: str, path: str, name: str) -> types.ModuleType:
    """The module at ``path`` as it was at git revision ``rev`` (imports resolve to today's
    code: only that one file is old)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType(name)
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)  # noqa: S102 (our own repo)
    return module


def ab_inputs(args: argparse.Namespace, spec: dict) -> dict:
    """`campaign_inputs` at ``args.ab`` (A) and now (B), alternating, with their plans."""
    from apps.firmware import campaign_inputs as after
    from apps.firmware.campaign_spec import spec_load

    before = module_at(args.ab, "apps/firmware/campaign_inputs.py", "campaign_inputs_before")
    checked = spec_load(spec)
    bundle = after.campaign_bundle(checked)
    times: dict[str, list[tuple[float, float, float]]] = {"before": [], "after": []}
    plans: dict[str, dict] = {}
    load = [os.getloadavg()[0]]
    for module in (before, after):  # warm-up
        module.campaign_inputs(bundle=bundle, targets=checked.targets)
    order = [("before", before), ("after", after)]
    for _ in range(args.ab_runs):
        order.reverse()  # ABBA: neither always runs right after the other's garbage
        for label, module in order:
            pg0, c0, t0 = backend_cpu(), time.process_time(), time.perf_counter()
            inputs = module.campaign_inputs(bundle=bundle, targets=checked.targets)
            wall, cpu, pg1 = time.perf_counter() - t0, time.process_time() - c0, backend_cpu()
            pg = pg1 - pg0 if pg0 is not None and pg1 is not None else 0.0
            times[label].append((wall, cpu, pg))
            if label not in plans:
                plans[label] = campaign_plan(inputs, checked.strategy).as_dict()
            del inputs
            load.append(os.getloadavg()[0])
    out: dict = {"same": plans["before"] == plans["after"], "load": [min(load), max(load)]}
    for label, rows in times.items():
        out[label] = statistics.median(r[0] for r in rows)
        out[f"{label}_cpu"] = statistics.median(r[1] for r in rows)
        out[f"{label}_pg"] = statistics.median(r[2] for r in rows)
        out[f"{label}_all"] = [r[0] for r in rows]
    return out


def run_database(args: argparse.Namespace) -> None:
    import psycopg

    server = os.environ.get("CAMPAIGN_BENCH_SERVER_URL", "postgres://postgres@127.0.0.1:5432")
    url = f"{server.rstrip('/')}/{DB_NAME}"
    with psycopg.connect(f"{server.rstrip('/')}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
    expected = args.sites * args.nodes_per_site
    if exists and not args.reseed:
        # a fleet of another size, an older seed, or a seed that was interrupted: start again
        with psycopg.connect(url) as conn:
            try:
                counts = conn.execute(SEED_CHECK).fetchone()
            except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
                counts = None
        exists = (
            counts is not None
            and counts[:2] == (expected, expected)
            and counts[2] > 0
            and counts[3:] == (expected, expected)
        )
    with psycopg.connect(f"{server.rstrip('/')}/postgres", autocommit=True) as conn:
        if args.reseed or not exists:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    env = {**os.environ, **BENCH_ENV, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    argv = [sys.executable, __file__, "--measure", "--sites", str(args.sites)]
    argv += ["--nodes-per-site", str(args.nodes_per_site), "--runs", str(args.runs)]
    if args.ab:
        argv += ["--ab", args.ab, "--ab-runs", str(args.ab_runs)]
    out = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"the measuring process failed:\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if r["seeded"]:
        print(f"\n(seeded {DB_NAME} in {r['seeded']:.0f} s)")
    verdict = "met" if r["seconds"] < 2 else "MISSED"
    print(
        f"| whole dry run on PostgreSQL (`campaign_preview`: queries + plan), default "
        f"strategy | {expected:,} | {r['eligible']:,} | {r['waves']} | {r['excluded']:,} | "
        f"{r['classes']} | {r['seconds']:.2f} (inputs {r['inputs']:.2f} + plan {r['plan']:.2f}) "
        f"| < 2 s: {verdict} |"
    )
    runs = ", ".join(f"{t:.2f}" for t in r["all"])
    print(f"\nruns: {runs} s; load average {r['load'][0]:.1f}-{r['load'][1]:.1f}")
    print(
        f"CPU per dry run (medians): this process {r['cpu']:.2f} s, its PostgreSQL backend "
        f"{r['pg_cpu']:.2f} s (0: the server is not on this host)"
    )
    if r.get("ab"):
        ab = r["ab"]
        print(
            f"\nA/B of campaign_inputs, {args.ab} vs the working tree, alternating, medians of "
            f"{args.ab_runs} (ABBA): before {ab['before']:.2f} s (CPU {ab['before_cpu']:.2f} s + "
            f"backend {ab['before_pg']:.2f} s), after {ab['after']:.2f} s (CPU "
            f"{ab['after_cpu']:.2f} s + backend {ab['after_pg']:.2f} s), "
            f"{ab['after'] / ab['before']:.2f}x; plans identical: {ab['same']}; "
            f"load average {ab['load'][0]:.1f}-{ab['load'][1]:.1f}"
        )
        for label in ("before", "after"):
            print(f"  {label}: " + ", ".join(f"{t:.2f}" for t in ab[f"{label}_all"]) + " s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--nodes-per-site", type=int, default=25)
    parser.add_argument("--database", action="store_true", help="also time the DB path (PG)")
    parser.add_argument("--reseed", action="store_true", help="refill the benchmark database")
    parser.add_argument("--runs", type=int, default=5, help="timed dry runs on the database")
    parser.add_argument("--ab", metavar="REV", help="with --database: A/B against git REV")
    parser.add_argument("--ab-runs", type=int, default=3, help="A/B rounds (ABBA order)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_database(args)))
        return
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
    if args.database:
        run_database(args)


if __name__ == "__main__":
    main()
