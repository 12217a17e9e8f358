"""The optimised dry run (`campaign_inputs`' one read through the cursor, the planner's inline
eligibility, id-cached classes and cut waves) against a straightforward reference: inputs read
node by node through the ORM, planned the plain way. Same plan, to the last field, on a small
fleet with every kind of exclusion, for several strategies."""

from __future__ import annotations

import math
from datetime import time
from itertools import zip_longest

import pytest
from django.db.models import F, TextField
from django.db.models.functions import MD5, Cast

from apps.attestation.models import FirmwareRelease, NodeConfiguration, option_rom_cards
from apps.firmware.campaign_inputs import HOLDING
from apps.firmware.campaign_plan import (
    BundleRow,
    CampaignPlan,
    Excluded,
    HardwareClass,
    NodeRow,
    PlanInputs,
    SiteLoad,
    SiteRow,
    Strategy,
    Wave,
    _canary,
    _class_label,
    _exclusion,
    _over_budget,
    wave_sizes,
)
from apps.firmware.campaign_services import campaign_create, campaign_preview
from apps.firmware.campaign_spec import spec_load
from apps.firmware.campaigns import CampaignNode, MaintenanceWindow
from apps.firmware.models import BundlePrediction, prediction_class
from apps.hardware.models import BmcFacts, firmware_versions
from apps.sites.models import Node, Site
from tests.factories import SiteFactory
from tests.firmware.campaign_kit import NEW, SKU, add_node, make_bundle

ROMS = [{"pci_path": "0000:3b:00.0", "name": "X710", "digests": [], "ranges": []}]
ROMS_2 = [*ROMS, {"pci_path": "0000:5e:00.0", "name": "CX6", "digests": [], "ranges": []}]


# --- the reference ----------------------------------------------------------------------------


def reference_inputs(bundle, targets) -> PlanInputs:
    """The planner's rows the plain way: every node and its related rows read one by one."""
    sku = bundle.profile.sku
    site_codes = set(targets.get("sites") or [])
    names = set(targets.get("nodes") or [])
    rows = []
    for node in Node.objects.order_by("pk"):
        config = NodeConfiguration.objects.filter(node=node).first()
        of_sku = node.model.lower() == sku.lower() or (
            config is not None and config.release.profile_id == bundle.profile_id
        )
        if not ((node.site.code in site_codes and of_sku) or node.name in names):
            continue
        facts = BmcFacts.objects.filter(node=node).first()
        prediction = BundlePrediction.objects.filter(bundle=bundle, node=node).first()
        pcrs, code, reason = None, "not_predicted", ""
        if prediction is not None:
            code, reason = prediction.reason_code, prediction.reason
            if prediction.pcrs is not None:
                # the class is the stored digest; a row written without it: its JSON's MD5
                pcrs = prediction.pcrs_digest or (
                    BundlePrediction.objects.filter(pk=prediction.pk)
                    .annotate(h=MD5(Cast("pcrs", TextField())))
                    .values_list("h", flat=True)
                    .get()
                )
        holder = CampaignNode.objects.filter(node=node, campaign__state__in=HOLDING).first()
        node_sku = config.release.profile.sku if config else node.model
        rows.append(
            NodeRow(
                id=node.pk,
                name=node.name,
                site_id=node.site_id,
                status=node.status,
                power_w=node.power_w,
                versions=firmware_versions(facts.firmware if facts else None),
                nics=option_rom_cards(config.config.get("option_roms")) if config else (),
                prediction=pcrs,
                reason_code=code,
                reason=reason,
                in_campaign=holder.campaign.name if holder else "",
                other_sku="" if node_sku.lower() == sku.lower() else node_sku or "?",
                no_redfish=not node.speaks_redfish,
            )
        )
    sites = {}
    for site in Site.objects.filter(pk__in={r.site_id for r in rows}):
        working = Node.objects.filter(site=site, status=Node.Status.PRODUCTION)
        sites[site.pk] = SiteRow(
            id=site.pk,
            code=site.code,
            name=site.name,
            timezone=site.timezone,
            output_w=float(sum(n.power_w for n in working if n.power_w is not None)),
            output_unknown=sum(1 for n in working if n.power_w is None),
            windows=MaintenanceWindow.objects.filter(site=site).count(),
        )
    components = tuple((c.component, c.version) for c in bundle.components.order_by("position"))
    return PlanInputs(
        bundle=BundleRow(bundle.pk, sku, bundle.version, components),
        nodes=rows,
        sites=sites,
        current=targets.get("current") or {},
    )


def reference_load(site: SiteRow, rows: list[NodeRow], strategy: Strategy) -> SiteLoad:
    known = sorted((r.power_w for r in rows if r.power_w is not None), reverse=True)
    unknown = len(rows) - len(known)
    output = site.output_w if site.output_unknown == 0 else None
    concurrency = min(strategy.max_down_per_site, len(rows))
    if strategy.max_site_loss_pct is not None:
        if output is None or unknown:
            concurrency = 1
        else:
            while concurrency > 1 and sum(known[:concurrency]) > (
                output * strategy.max_site_loss_pct / 100
            ):
                concurrency -= 1
    loss_known = float(sum(known[:concurrency]))
    loss = None if unknown else loss_known
    return SiteLoad(
        site_id=site.id,
        site=site.code,
        nodes=len(rows),
        concurrency=concurrency,
        loss_w=loss,
        loss_known_w=loss_known,
        unknown_draw=unknown,
        output_w=output,
        loss_pct=None if loss is None or not output else 100 * loss / output,
        windows=site.windows,
    )


def reference_wave(index, kind, rows, inputs, strategy) -> Wave:
    per_site: dict[int, list[NodeRow]] = {}
    for row in rows:
        per_site.setdefault(row.site_id, []).append(row)
    loads = [reference_load(inputs.sites[s], per_site[s], strategy) for s in sorted(per_site)]
    rounds = max((math.ceil(s.nodes / s.concurrency) for s in loads), default=0)
    if strategy.max_parallel:
        rounds = max(rounds, math.ceil(len(rows) / strategy.max_parallel))
    return Wave(
        index=index,
        kind=kind,
        node_ids=[r.id for r in rows],
        node_names=[r.name for r in rows],
        sites=loads,
        minutes=rounds * strategy.node_minutes,
        worst_minutes=rounds * strategy.node_timeout_minutes * (1 + strategy.retries),
    )


def reference_plan(inputs: PlanInputs, strategy: Strategy) -> CampaignPlan:
    """The planner as first written: one node at a time, every list grouped again."""
    bundle = inputs.bundle
    components = tuple((c.lower(), v) for c, v in bundle.components)
    excluded, eligible = [], []
    for node in sorted(inputs.nodes, key=lambda n: n.name):
        site = inputs.sites[node.site_id]
        code, reason = _exclusion(node, bundle, components, inputs.current)
        if not code and strategy.max_site_loss_pct is not None:
            reason = _over_budget(node, site, strategy)
            code = "heat_budget" if reason else ""
        if code:
            excluded.append(Excluded(node.id, node.name, site.code, code, reason))
        else:
            eligible.append(node)
    classes: dict[tuple, list[NodeRow]] = {}
    for node in eligible:
        versions = tuple(sorted(node.versions.items())) if node.versions else None
        classes.setdefault((bundle.sku, versions, node.nics, node.prediction), []).append(node)
    candidates = {}
    for key, rows in classes.items():
        first: dict[int, NodeRow] = {}
        for row in rows:
            first.setdefault(row.site_id, row)
        candidates[key] = first
    canary = _canary(candidates) if strategy.canary else {}
    class_rows = []
    for key, rows in classes.items():
        short, label = _class_label(key)
        picked = canary.get(key)
        class_rows.append(HardwareClass(short, label, len(rows), picked.name if picked else ""))
    class_rows.sort(key=lambda c: c.label)
    warnings = []
    if strategy.canary and any(not c.canary for c in class_rows):
        uncovered = sum(1 for c in class_rows if not c.canary)
        warnings.append(
            f"{uncovered} hardware class(es) could not get a canary node at a site of "
            "their own; they first appear in wave 1."
        )
    waves = []
    if canary:
        rows = sorted(canary.values(), key=lambda n: n.name)
        waves.append(reference_wave(0, "canary", rows, inputs, strategy))
    canary_ids = {n.id for n in canary.values()}
    per_site: dict[int, list[NodeRow]] = {}
    for node in eligible:
        if node.id not in canary_ids:
            per_site.setdefault(node.site_id, []).append(node)
    columns = [per_site[s] for s in sorted(per_site)]
    rest = [row for rank in zip_longest(*columns) for row in rank if row is not None]
    start = 0
    for size in wave_sizes(strategy.waves, len(rest)):
        rows = rest[start : start + size]
        waves.append(reference_wave(len(waves), "wave", rows, inputs, strategy))
        start += size
    soak = strategy.soak_minutes * max(len(waves) - 1, 0)
    if any(s.unknown_draw for w in waves for s in w.sites):
        warnings.append("Some nodes' live draw is unknown: their sites' heat loss is unknown.")
    return CampaignPlan(
        bundle=bundle,
        strategy=strategy,
        targeted=len(inputs.nodes),
        waves=waves,
        excluded=excluded,
        classes=class_rows,
        estimated_minutes=sum(w.minutes for w in waves) + soak,
        worst_minutes=sum(w.worst_minutes for w in waves) + soak,
        warnings=warnings,
    )


# --- the fleet --------------------------------------------------------------------------------


@pytest.fixture
def mixed_fleet(db):
    """Four sites with every kind of exclusion, two card sets, two prediction classes (one
    written without its digest), unknown draws and BMCs that reported nothing."""
    bundle = make_bundle()
    release = FirmwareRelease.objects.create(profile=bundle.profile, version="1.4.0")
    sites = [SiteFactory(code=f"mix-{i}", timezone="Europe/Paris") for i in range(4)]
    MaintenanceWindow.objects.create(site=sites[1], weekday=2, start=time(1), end=time(5))
    draws = [400.0, 350.5, 1200.0, None, 275.25, 500.0]
    n = 0
    for s, site in enumerate(sites):
        for _ in range(7 + 2 * s):
            n += 1
            node = add_node(bundle, site, f"mx-{(n * 7) % 53:02d}-{n}", power_w=draws[n % 6])
            if n % 3:
                roms = ROMS if n % 2 else ROMS_2
                config = {"option_roms": roms}
                NodeConfiguration.objects.create(node=node, release=release, config=config)
            if n % 5 == 0:
                pcrs = {"0": "cc" * 32}
                BundlePrediction.objects.filter(node=node).update(
                    pcrs=pcrs, pcrs_digest=prediction_class(pcrs)
                )
    Node.objects.filter(site=sites[3], power_w=None).update(power_w=300.0)  # all draws known
    nodes = {x.name: x for x in Node.objects.all()}
    names = sorted(nodes)

    def change(name, **fields):
        Node.objects.filter(pk=nodes[name].pk).update(**fields)

    change(names[0], status=Node.Status.MAINTENANCE)  # not_in_service
    change(names[1], bmc_protocol=Node.BmcProtocol.IPMI)  # no_redfish
    change(names[2], bmc_protocol=Node.BmcProtocol.AUTO, bmc_protocol_detected="")
    change(names[3], bmc_protocol=Node.BmcProtocol.AUTO, bmc_protocol_detected="redfish")
    BmcFacts.objects.filter(node=nodes[names[4]]).update(firmware=NEW)  # up_to_date
    BmcFacts.objects.filter(node=nodes[names[5]]).delete()  # reported nothing
    BmcFacts.objects.filter(node=nodes[names[6]]).update(
        firmware=[
            {"component": "BMC", "version": "2.42"},
            {"component": "BIOS", "version": "1.3.2"},
        ]
    )
    BundlePrediction.objects.filter(node=nodes[names[7]]).delete()  # not_predicted
    BundlePrediction.objects.filter(node=nodes[names[8]]).update(
        pcrs=None, pcrs_digest="", reason_code="unapproved_variant", reason="a card moved"
    )
    # a prediction written without its digest (bulk paths skip save()): the MD5 fallback
    BundlePrediction.objects.filter(node=nodes[names[9]]).update(pcrs_digest="")
    # an inventory and a configuration written as SQL expressions: no versions digest, no
    # cards (""), so the dry run reads their JSON
    BmcFacts.objects.filter(node=nodes[names[12]]).update(firmware=F("firmware"))
    blank = NodeConfiguration.objects.exclude(config={}).order_by("node__name").first()
    NodeConfiguration.objects.filter(pk=blank.pk).update(config=F("config"))
    assert BmcFacts.objects.filter(versions_digest="").count() == 1
    assert NodeConfiguration.objects.filter(cards="").count() == 1
    change(names[10], model="hs-edge-1")  # the SKU, another case
    # of another SKU: only when named; one of another model but configured for the SKU
    other = add_node(bundle, sites[0], "zz-other")
    configured = add_node(bundle, sites[2], "zz-configured")
    Node.objects.filter(pk__in=[other.pk, configured.pk]).update(model="HX-500")
    NodeConfiguration.objects.create(node=configured, release=release, config={})
    # another site's nodes, a draw the campaign never targets
    add_node(bundle, SiteFactory(code="elsewhere"), "zz-elsewhere")
    # held by a campaign not finished yet: in_campaign
    campaign_create(
        spec={
            "name": "held",
            "bundle": {"sku": SKU, "version": bundle.version},
            "targets": {"nodes": [names[11]]},
            "strategy": {"canary": False},
        }
    )
    return {"bundle": bundle, "sites": [s.code for s in sites], "other": other.name}


STRATEGIES = [
    {},
    {"max_down_per_site": 2, "max_site_loss_pct": 40},
    {"canary": False, "waves": ["1", "3", "rest"], "max_parallel": 3},
    {"waves": ["50%"], "max_down_per_site": 3, "max_site_loss_pct": 15},
]


@pytest.mark.django_db
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("current", [{}, {"BIOS": "1.4.0"}])
def test_optimised_dry_run_equals_the_straightforward_reference(mixed_fleet, strategy, current):
    targets = {"sites": mixed_fleet["sites"], "nodes": [mixed_fleet["other"]]}
    if current:
        targets["current"] = current
    spec = {
        "bundle": {"sku": SKU, "version": mixed_fleet["bundle"].version},
        "targets": targets,
        "strategy": strategy,
    }
    _, plan = campaign_preview(spec=spec)
    strategy_ = spec_load(spec).strategy
    expected = reference_plan(reference_inputs(mixed_fleet["bundle"], targets), strategy_)
    assert plan.as_dict() == expected.as_dict()
    codes = {e.code for e in plan.excluded}
    wanted = {
        "other_sku",
        "not_in_service",
        "in_campaign",
        "no_redfish",
        "up_to_date",
        "not_predicted",
        "unapproved_variant",
    }
    assert wanted <= codes
    if current:
        assert "filtered" in codes
    if strategy.get("max_site_loss_pct") == 15:
        assert "heat_budget" in codes
    assert len(plan.classes) >= 3 and plan.eligible > 10
