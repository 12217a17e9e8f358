"""The planner's rows, fetched in a fixed number of queries whatever the fleet's size.

Targets resolve to nodes of the bundle's SKU (configured on one of its releases, or whose model
says so, as the bundle's predictions do) at the named sites, plus the named nodes; a named node
of another SKU is kept so the dry run can say why it is excluded. Every query is over the
visible nodes (`access.nodes_visible_to`), joined by subquery rather than by long id lists.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from apps.accounts import access
from apps.accounts.policy import Action
from apps.attestation.models import NodeConfiguration
from apps.firmware.campaign_plan import BundleRow, NodeRow, PlanInputs, SiteRow
from apps.firmware.campaign_spec import CampaignSpec, CampaignSpecError
from apps.firmware.campaigns import Campaign, CampaignNode, MaintenanceWindow
from apps.firmware.models import BundlePrediction, FirmwareBundle
from apps.hardware.models import BmcFacts
from apps.sites.models import Node, Site

# States in which a campaign still holds its nodes (a node is in one such campaign at most).
HOLDING = (
    Campaign.State.PLANNED,
    Campaign.State.APPROVED,
    Campaign.State.RUNNING,
    Campaign.State.PAUSED,
    Campaign.State.HALTED,
    Campaign.State.ROLLING_BACK,
)


def campaign_bundle(spec: CampaignSpec) -> FirmwareBundle:
    bundles = FirmwareBundle.objects.select_related("profile")
    if spec.bundle_id is not None:
        bundle = bundles.filter(pk=spec.bundle_id).first()
        what = f"id {spec.bundle_id}"
    else:
        bundle = bundles.filter(profile__sku=spec.bundle_sku, version=spec.bundle_version).first()
        what = f"{spec.bundle_sku} {spec.bundle_version}"
    if bundle is None:
        raise CampaignSpecError(f"bundle: no firmware bundle {what}.")
    return bundle


def _split(items: list[Any]) -> tuple[set[int], set[str]]:
    ids = {int(i) for i in items if isinstance(i, int) or str(i).isdigit()}
    names = {str(i) for i in items if not (isinstance(i, int) or str(i).isdigit())}
    return ids, names


def _named(qs: QuerySet[Any], items: list[Any], field: str, what: str) -> QuerySet[Any]:
    ids, names = _split(items)
    chosen = qs.filter(Q(pk__in=ids) | Q(**{f"{field}__in": names}))
    found = set(chosen.values_list("pk", field))
    missing = (ids - {pk for pk, _ in found}) | (names - {n for _, n in found})
    # an id that is also a name (site "12") is found by either
    missing -= {str(pk) for pk, _ in found} | {n for _, n in found}
    if missing:
        shown = ", ".join(sorted(str(m) for m in missing)[:5])
        raise CampaignSpecError(f"targets.{what}: unknown {shown}.")
    return chosen


def _versions(firmware: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in firmware or []:
        if isinstance(item, dict) and item.get("version"):
            for key in (item.get("id"), item.get("component")):
                if key:
                    out.setdefault(str(key).lower(), str(item["version"]))
    return out


def _nics(option_roms: Any) -> tuple[str, ...]:
    roms = option_roms if isinstance(option_roms, list) else []
    return tuple(
        sorted(str(r.get("name") or r.get("pci_path") or "?") for r in roms if isinstance(r, dict))
    )


def campaign_inputs(
    *, bundle: FirmwareBundle, targets: dict[str, Any], user: Any = None
) -> PlanInputs:
    """The planner's rows for ``bundle`` and ``targets`` (``user`` None: the command line)."""
    base = Node.objects.all() if user is None else access.nodes_visible_to(user)
    sites = (
        Site.objects.all() if user is None else access.sites_visible_to(user, Action.VIEW_HARDWARE)
    )
    sku = bundle.profile.sku
    of_sku = Q(attestation_config__release__profile=bundle.profile) | Q(model__iexact=sku)
    site_items, node_items = targets.get("sites") or [], targets.get("nodes") or []
    scope = Q()
    if site_items:
        scope = Q(site__in=_named(sites, site_items, "code", "sites"))
    named = Node.objects.none()
    if node_items:
        named = _named(base, node_items, "name", "nodes")
    if site_items and node_items:
        chosen = base.filter((scope & of_sku) | Q(pk__in=named))
    elif node_items:
        chosen = base.filter(pk__in=named)
    else:
        chosen = base.filter(scope & of_sku)
    chosen = chosen.distinct()
    ids = chosen.values("pk")

    rows = list(chosen.values_list("id", "name", "site_id", "status", "power_w", "model"))
    configured = dict(
        NodeConfiguration.objects.filter(node__in=ids).values_list(
            "node_id", "release__profile__sku"
        )
    )
    roms = dict(
        NodeConfiguration.objects.filter(node__in=ids).values_list("node_id", "config__option_roms")
    )
    firmware = dict(BmcFacts.objects.filter(node__in=ids).values_list("node_id", "firmware"))
    predictions = {
        node_id: (pcrs, code, reason)
        for node_id, pcrs, code, reason in BundlePrediction.objects.filter(
            bundle=bundle, node__in=ids
        ).values_list("node_id", "pcrs", "reason_code", "reason")
    }
    holding = dict(
        CampaignNode.objects.filter(node__in=ids, campaign__state__in=HOLDING).values_list(
            "node_id", "campaign__name"
        )
    )
    site_ids = {r[2] for r in rows}
    output = {
        s: (total or 0.0, unknown)
        for s, total, unknown in Node.objects.filter(
            site_id__in=chosen.values("site_id"), status=Node.Status.PRODUCTION
        )
        .values("site_id")
        .annotate(total=Sum("power_w"), unknown=Count("id", filter=Q(power_w__isnull=True)))
        .values_list("site_id", "total", "unknown")
    }
    windows = dict(
        MaintenanceWindow.objects.filter(site_id__in=chosen.values("site_id"))
        .values("site_id")
        .annotate(n=Count("id"))
        .values_list("site_id", "n")
    )
    site_rows = {
        s: SiteRow(
            id=s,
            code=code,
            name=name,
            timezone=tz,
            output_w=float(output.get(s, (0.0, 0))[0]),
            output_unknown=output.get(s, (0.0, 0))[1],
            windows=windows.get(s, 0),
        )
        for s, code, name, tz in Site.objects.filter(pk__in=site_ids).values_list(
            "id", "code", "name", "timezone"
        )
    }
    nodes = []
    for node_id, name, site_id, status, power_w, model in rows:
        node_sku = configured.get(node_id) or model
        pcrs, code, reason = predictions.get(node_id, (None, "not_predicted", ""))
        nodes.append(
            NodeRow(
                id=node_id,
                name=name,
                site_id=site_id,
                status=status,
                power_w=power_w,
                versions=_versions(firmware.get(node_id)),
                nics=_nics(roms.get(node_id)),
                prediction=tuple(sorted(pcrs.items())) if isinstance(pcrs, dict) else None,
                reason_code=code,
                reason=reason,
                in_campaign=holding.get(node_id, ""),
                other_sku="" if str(node_sku).lower() == sku.lower() else str(node_sku or "?"),
            )
        )
    components = tuple(bundle.components.values_list("component", "version"))
    return PlanInputs(
        bundle=BundleRow(bundle.pk, sku, bundle.version, components),
        nodes=nodes,
        sites=site_rows,
        current=targets.get("current") or {},
    )
