"""The planner's rows, fetched in a fixed number of queries whatever the fleet's size.

Targets resolve to nodes of the bundle's SKU (configured on one of its releases, or whose model
says so, as the bundle's predictions do) at the named sites, plus the named nodes; a named node
of another SKU is kept so the dry run can say why it is excluded. Every query is over the
visible nodes (`access.nodes_visible_to`), joined by subquery rather than by long id lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from operator import attrgetter
from typing import Any

from django.db import connections
from django.db.models import (
    Case,
    Count,
    F,
    FilteredRelation,
    Q,
    QuerySet,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.functions import MD5, Cast, Coalesce, NullIf
from django.utils.translation import gettext_noop as _

from apps.accounts import access
from apps.accounts.policy import Action
from apps.attestation.models import option_rom_cards
from apps.firmware.campaign_plan import BundleRow, NodeRow, PlanInputs, SiteRow, gc_paused
from apps.firmware.campaign_spec import CampaignSpec, CampaignSpecError
from apps.firmware.campaign_windows import Window
from apps.firmware.campaigns import Campaign, CampaignNode, MaintenanceWindow
from apps.firmware.models import FirmwareBundle
from apps.hardware.models import BmcFacts, firmware_versions
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
        if bundle is None:
            raise CampaignSpecError(_("bundle: no firmware bundle id %(id)s."), id=spec.bundle_id)
    else:
        bundle = bundles.filter(profile__sku=spec.bundle_sku, version=spec.bundle_version).first()
        if bundle is None:
            raise CampaignSpecError(
                _("bundle: no firmware bundle %(sku)s %(version)s."),
                sku=spec.bundle_sku,
                version=spec.bundle_version,
            )
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
        raise CampaignSpecError(_("targets.%(what)s: unknown %(names)s."), what=what, names=shown)
    return chosen


def _decoded(text: str | None) -> Any:
    """JSON text as read from the database; None when absent or not JSON."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _node_rows(
    chosen: QuerySet[Node], bundle: FirmwareBundle, holding: dict[int, str]
) -> list[NodeRow]:
    """One read of the chosen nodes with what the plan needs of them, as plain tuples.

    Their SKU (their recorded configuration's, else their model), their cards (the names
    `NodeConfiguration.cards` keeps), their BMC's versions digest (`BmcFacts.versions_digest`:
    the versions are read once per distinct digest, after this read), the bundle's prediction
    class (the digest stored with the prediction: no PCR map read or hashed; a row written
    without it falls back to the MD5 of its JSON text; NULL: no prediction). A row whose cards
    or digest were never computed ("") brings its JSON as text instead, so a missing column
    costs time, never a wrong class. Every join is on a unique key, so a node is one row; no
    ORDER BY (the planner sorts by name). Read through the cursor: no model or converter runs
    per row."""
    text = TextField()
    qs = (
        chosen.annotate(
            prediction=FilteredRelation(
                "bundle_predictions", condition=Q(bundle_predictions__bundle=bundle)
            ),
            node_sku=Coalesce(
                NullIf("attestation_config__release__profile__sku", Value("")),
                "model",
                output_field=text,
            ),
            fw_digest=F("bmc_facts__versions_digest"),
            # JSON printed only where no digest was stored (PostgreSQL: about 0.3 s per
            # 250,000 nodes for each of the two columns when printed for every row)
            fw_text=Case(
                When(bmc_facts__versions_digest="", then=Cast("bmc_facts__firmware", text)),
                output_field=text,
            ),
            cards_text=F("attestation_config__cards"),
            roms_text=Case(
                When(
                    attestation_config__cards="",
                    then=Cast("attestation_config__config__option_roms", text),
                ),
                output_field=text,
            ),
            pcrs_class=NullIf(
                NullIf(
                    Coalesce(
                        NullIf("prediction__pcrs_digest", Value("")),
                        MD5(Cast("prediction__pcrs", text)),
                        output_field=text,
                    ),
                    Value(""),
                    output_field=text,
                ),
                Value("null"),
                output_field=text,
            ),
            code=Coalesce("prediction__reason_code", Value("not_predicted"), output_field=text),
            why=Coalesce("prediction__reason", Value(""), output_field=text),
        )
        .order_by()
        .values_list(
            "id",
            "name",
            "site_id",
            "status",
            "power_w",
            "node_sku",
            "fw_digest",
            "fw_text",
            "cards_text",
            "roms_text",
            "pcrs_class",
            "code",
            "why",
            "bmc_protocol",
            "bmc_protocol_detected",
        )
    )
    sql, params = qs.query.sql_with_params()
    pending: dict[str, tuple[int, dict[str, str]]] = {}
    with connections[qs.db].cursor() as cursor:
        if cursor.db.vendor == "postgresql":
            # Streamed in chunks: rows are built while PostgreSQL still produces the next ones
            # rather than after the whole result is in, so the query's own time overlaps
            # Python's. Django's query log does not see it.
            rows = cursor.cursor.stream(sql, params, size=2000)
        else:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        nodes = _planner_rows(rows, bundle.profile.sku, holding, pending)
    _versions_fill(pending, qs.db)
    return nodes


def _planner_rows(
    rows: Iterable[tuple[Any, ...]],
    sku: str,
    holding: dict[int, str],
    pending: dict[str, tuple[int, dict[str, str]]],
) -> list[NodeRow]:
    """`NodeRow`s from `_node_rows`' tuples: JSON decoded and SKUs compared once per distinct
    value, every row then built as a tuple (no per-row ``__init__``). A versions digest seen
    for the first time gets an empty mapping, shared by its nodes and noted in ``pending``
    with one of them, for `_versions_fill` to fill once the read is over."""
    wanted = sku.lower()
    by_digest: dict[str, dict[str, str]] = {}
    inventories: dict[str | None, dict[str, str]] = {}
    cards: dict[str, tuple[str, ...]] = {}
    roms_cards: dict[str | None, tuple[str, ...]] = {}
    skus: dict[str, str] = {}
    classes: dict[str | None, str | None] = {}
    new = tuple.__new__
    nodes = []
    append = nodes.append
    for (
        node_id,
        name,
        site_id,
        status,
        power_w,
        node_sku,
        digest,
        fw,
        named,
        roms,
        pcrs,
        code,
        why,
        protocol,
        detected,
    ) in rows:
        if digest:
            versions = by_digest.get(digest)
            if versions is None:
                versions = by_digest[digest] = {}
                pending[digest] = (node_id, versions)
        else:  # no BMC facts (None), or written without the digest ("")
            versions = inventories.get(fw)
            if versions is None:
                versions = inventories[fw] = firmware_versions(_decoded(fw))
        if named:
            nics = cards.get(named)
            if nics is None:
                nics = cards[named] = tuple(map(str, _decoded(named) or ()))
        else:  # no configuration (None), or written without its cards ("")
            nics = roms_cards.get(roms)
            if nics is None:
                nics = roms_cards[roms] = option_rom_cards(_decoded(roms))
        pcrs = classes.setdefault(pcrs, pcrs)  # one object per class: the planner groups by id
        other = skus.get(node_sku)
        if other is None:
            other = skus[node_sku] = "" if str(node_sku).lower() == wanted else str(node_sku or "?")
        append(
            new(
                NodeRow,
                (
                    node_id,
                    name,
                    site_id,
                    status,
                    power_w,
                    versions,
                    nics,
                    pcrs,
                    code,
                    why,
                    holding.get(node_id, "") if holding else "",
                    other,
                    # Updates go through Redfish's UpdateService (as Node.speaks_redfish says,
                    # which the update service checks too): an IPMI or not yet probed BMC
                    # cannot take one.
                    not (protocol == "redfish" or (protocol == "auto" and detected == "redfish")),
                ),
            )
        )
    return nodes


def _versions_fill(pending: dict[str, tuple[int, dict[str, str]]], using: str) -> None:
    """Fills each versions digest's shared mapping from one inventory that has it: first the
    node the main read saw it on (one query for all), then, for a digest whose node changed
    its inventory in between, any row that still has it. A digest no row has any more (every
    such node re-read since the main read) leaves its nodes with unknown versions."""
    if not pending:
        return
    facts = BmcFacts.objects.using(using).order_by()
    firsts = [node_id for node_id, _ in pending.values()]
    left = set(pending)
    for digest, firmware in facts.filter(node_id__in=firsts).values_list(
        "versions_digest", "firmware"
    ):
        if digest in left:
            left.discard(digest)
            pending[digest][1].update(firmware_versions(firmware))
    for digest in left:
        firmware = facts.filter(versions_digest=digest).values_list("firmware", flat=True)[:1]
        for value in firmware:
            pending[digest][1].update(firmware_versions(value))


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
    # Campaigns holding nodes: read over the targets' scope with plain joins, matched here (a
    # subquery repeating the SKU's OR-join made PostgreSQL plan minutes-long nested loops).
    related = Q()
    if target_sites is not None:
        related = Q(node__site__in=target_sites)
    if node_items:
        related = (related | Q(node__in=named)) if site_items else Q(node__in=named)
    holding = dict(
        CampaignNode.objects.filter(related, campaign__state__in=HOLDING).values_list(
            "node_id", "campaign__name"
        )
    )
    with gc_paused():
        nodes = _node_rows(chosen, bundle, holding)
    site_ids = set(map(attrgetter("site_id"), nodes))
    # few sites: by id; a fleet-wide campaign: every site (cheaper than a long id list)
    few = len(site_ids) <= 1000
    related_sites = Q(site_id__in=site_ids) if few else Q()
    output = {
        s: (total or 0.0, unknown)
        for s, total, unknown in Node.objects.filter(related_sites, status=Node.Status.PRODUCTION)
        .order_by()
        .values("site_id")
        .annotate(total=Sum("power_w"), unknown=Count("id", filter=Q(power_w__isnull=True)))
        .values_list("site_id", "total", "unknown")
    }
    windows = dict(
        MaintenanceWindow.objects.filter(related_sites)
        .order_by()
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
