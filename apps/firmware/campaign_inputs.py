"""The planner's rows, fetched in a fixed number of queries whatever the fleet's size.

Targets resolve to nodes of the bundle's SKU (configured on one of its releases, or whose model
says so, as the bundle's predictions do) at the named sites, plus the named nodes; a named node
of another SKU is kept so the dry run can say why it is excluded. Every query is over the
visible nodes (`access.nodes_visible_to`), joined by subquery rather than by long id lists.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Count, FilteredRelation, Q, QuerySet, Sum, TextField, Value
from django.db.models.functions import MD5, Cast, Coalesce, NullIf
from django.utils.translation import gettext as _

from apps.accounts import access
from apps.accounts.policy import Action
from apps.firmware.campaign_plan import BundleRow, NodeRow, PlanInputs, SiteRow
from apps.firmware.campaign_spec import CampaignSpec, CampaignSpecError
from apps.firmware.campaign_windows import Window
from apps.firmware.campaigns import Campaign, CampaignNode, MaintenanceWindow
from apps.firmware.models import FirmwareBundle
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
        what = _("id %(id)s") % {"id": spec.bundle_id}
    else:
        bundle = bundles.filter(profile__sku=spec.bundle_sku, version=spec.bundle_version).first()
        what = f"{spec.bundle_sku} {spec.bundle_version}"
    if bundle is None:
        raise CampaignSpecError(_("bundle: no firmware bundle %(what)s.") % {"what": what})
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
        raise CampaignSpecError(
            _("targets.%(what)s: unknown %(names)s.") % {"what": what, "names": shown}
        )
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
    target_sites = _named(sites, site_items, "code", "sites") if site_items else None
    if target_sites is not None:
        scope = Q(site__in=target_sites)
    named = Node.objects.none()
    if node_items:
        named = _named(base, node_items, "name", "nodes")
    if site_items and node_items:
        chosen = base.filter((scope & of_sku) | Q(pk__in=named))
    elif node_items:
        chosen = base.filter(pk__in=named)
    else:
        chosen = base.filter(scope & of_sku)
    # One read of the chosen nodes with what the plan needs of them: the SKU and cards of
    # their recorded configuration, their BMC inventory (as JSON text, decoded once per
    # distinct text: a fleet runs few distinct inventories) and the bundle's prediction class
    # (the digest stored with the prediction: no PCR map read or hashed; a row written without
    # it falls back to the MD5 of its JSON text; NULL: no prediction). All joins are on unique
    # keys, so a node is one row.
    rows = list(
        chosen.annotate(
            prediction=FilteredRelation(
                "bundle_predictions", condition=Q(bundle_predictions__bundle=bundle)
            ),
            firmware_text=Cast("bmc_facts__firmware", TextField()),
            pcrs_class=Coalesce(
                NullIf("prediction__pcrs_digest", Value("")),
                MD5(Cast("prediction__pcrs", TextField())),
                output_field=TextField(),
            ),
        ).values_list(
            "id",
            "name",
            "site_id",
            "status",
            "power_w",
            "model",
            "attestation_config__release__profile__sku",
            "attestation_config__config__option_roms",
            "firmware_text",
            "prediction__id",
            "pcrs_class",
            "prediction__reason_code",
            "prediction__reason",
            "bmc_protocol",
            "bmc_protocol_detected",
        )
    )
    wanted = {r[0] for r in rows}
    # Campaigns holding nodes: read over the targets' scope with plain joins, matched here (a
    # subquery repeating the SKU's OR-join made PostgreSQL plan minutes-long nested loops).
    related = Q()
    if target_sites is not None:
        related = Q(node__site__in=target_sites)
    if node_items:
        related = (related | Q(node__in=named)) if site_items else Q(node__in=named)
    holding = {
        node_id: name
        for node_id, name in CampaignNode.objects.filter(
            related, campaign__state__in=HOLDING
        ).values_list("node_id", "campaign__name")
        if node_id in wanted
    }
    site_ids = {r[2] for r in rows}
    # few sites: by id; a fleet-wide campaign: every site (cheaper than a long id list)
    few = len(site_ids) <= 1000
    related_sites = Q(site_id__in=site_ids) if few else Q()
    output = {
        s: (total or 0.0, unknown)
        for s, total, unknown in Node.objects.filter(related_sites, status=Node.Status.PRODUCTION)
        .values("site_id")
        .annotate(total=Sum("power_w"), unknown=Count("id", filter=Q(power_w__isnull=True)))
        .values_list("site_id", "total", "unknown")
    }
    windows = dict(
        MaintenanceWindow.objects.filter(related_sites)
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
        for s, code, name, tz in Site.objects.filter(
            Q(pk__in=site_ids) if few else Q()
        ).values_list("id", "code", "name", "timezone")
        if s in site_ids
    }
    nodes = []
    parsed: dict[str | None, dict[str, str]] = {}
    for row in rows:
        node_id, name, site_id, status, power_w, model, config_sku, option_roms = row[:8]
        text, predicted, pcrs, code, reason, protocol, detected = row[8:]
        if text not in parsed:
            parsed[text] = _versions(json.loads(text) if text else None)
        if predicted is None:
            pcrs, code, reason = None, "not_predicted", ""
        node_sku = config_sku or model
        nodes.append(
            NodeRow(
                id=node_id,
                name=name,
                site_id=site_id,
                status=status,
                power_w=power_w,
                versions=parsed[text],
                nics=_nics(option_roms) if config_sku is not None else (),
                prediction=pcrs if pcrs and pcrs != "null" else None,
                reason_code=code,
                reason=reason,
                in_campaign=holding.get(node_id, ""),
                other_sku="" if str(node_sku).lower() == sku.lower() else str(node_sku or "?"),
                # Updates go through Redfish's UpdateService (as Node.speaks_redfish says, which
                # the update service checks too): an IPMI or not yet probed BMC cannot take one.
                no_redfish=not (
                    protocol == "redfish" or (protocol == "auto" and detected == "redfish")
                ),
            )
        )
    components = tuple(bundle.components.values_list("component", "version"))
    return PlanInputs(
        bundle=BundleRow(bundle.pk, sku, bundle.version, components),
        nodes=nodes,
        sites=site_rows,
        current=targets.get("current") or {},
    )


def site_windows(*, site_ids: list[int]) -> dict[int, list[Window]]:
    """Each site's maintenance windows (local wall-clock times) for `campaign_windows`; a site
    without any is absent (not restricted)."""
    out: dict[int, list[Window]] = {}
    for site_id, weekday, start, end in MaintenanceWindow.objects.filter(
        site_id__in=site_ids
    ).values_list("site_id", "weekday", "start", "end"):
        out.setdefault(site_id, []).append(Window(weekday, start, end))
    return out
