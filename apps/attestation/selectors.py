"""Reads for attestation pages, badges and the API (access checks through ``apps.accounts``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts import access
from apps.accounts.policy import Action
from apps.attestation import badges, predict
from apps.attestation.badges import Badge, TrustSummary
from apps.attestation.models import (
    AgentEndpoint,
    Attestation,
    Enrolment,
    FirmwareRelease,
    NodeConfiguration,
)
from apps.sites.models import Node


def _annotated_nodes(nodes: QuerySet[Node]) -> QuerySet[Node]:
    latest = Attestation.objects.filter(node_id=OuterRef("pk")).order_by("-at", "-id")
    trusted = latest.filter(verdict=Attestation.Verdict.TRUSTED)
    return nodes.order_by().annotate(
        att_enrolled=Exists(
            Enrolment.objects.filter(node_id=OuterRef("pk"), superseded_at__isnull=True)
        ),
        att_verdict=Subquery(latest.values("verdict")[:1]),
        att_trusted_at=Subquery(trusted.values("at")[:1]),
    )


def _badge(row: dict[str, Any], now: datetime) -> Badge:
    return badges.node_badge(
        enrolled=row["att_enrolled"],
        latest_verdict=row["att_verdict"],
        last_trusted_at=row["att_trusted_at"],
        now=now,
    )


def node_badges(node_ids: list[int], *, now: datetime | None = None) -> dict[int, Badge]:
    """Badge of each node, in one query."""
    now = now or timezone.now()
    rows = _annotated_nodes(Node.objects.filter(pk__in=node_ids)).values(
        "pk", "att_enrolled", "att_verdict", "att_trusted_at"
    )
    return {row["pk"]: _badge(row, now) for row in rows}


def node_badge(node: Node, *, now: datetime | None = None) -> Badge:
    return node_badges([node.pk], now=now)[node.pk]


def _site_node_badges(site_ids: list[int], now: datetime | None) -> dict[int, list[Badge]]:
    now = now or timezone.now()
    rows = _annotated_nodes(Node.objects.filter(site_id__in=site_ids)).values(
        "site_id", "att_enrolled", "att_verdict", "att_trusted_at"
    )
    out: dict[int, list[Badge]] = {sid: [] for sid in site_ids}
    for row in rows:
        out[row["site_id"]].append(_badge(row, now))
    return out


def site_badges(site_ids: list[int], *, now: datetime | None = None) -> dict[int, Badge | None]:
    """Worst badge of each site's nodes (None: no node), in one query. Engineers only."""
    return {sid: badges.worst(b) for sid, b in _site_node_badges(site_ids, now).items()}


def site_trust_summaries(
    site_ids: list[int], *, now: datetime | None = None
) -> dict[int, TrustSummary]:
    """The partner-visible indicator of each site: verified machines out of all, nothing more."""
    return {
        sid: TrustSummary(sum(1 for x in b if x == Badge.TRUSTED), len(b))
        for sid, b in _site_node_badges(site_ids, now).items()
    }


def site_trust_for_user(user: Any, site_ids: list[int]) -> dict[str, Any]:
    """Template context for site and fleet pages: the worst node badge per site for roles that
    see attestation, the "machines verified" indicator for partners and planners, else nothing.
    """
    if access.can(user, Action.VIEW_ATTESTATION):
        return {
            "show_attestation": True,
            "site_attestation": {sid: badges.view(b) for sid, b in site_badges(site_ids).items()},
        }
    if access.can(user, Action.VIEW_TRUST_SUMMARY):
        return {
            "show_trust_summary": True,
            "site_trust": {
                sid: {"label": s.label, "ok": s.all_verified}
                for sid, s in site_trust_summaries(site_ids).items()
            },
        }
    return {}


def node_badges_for_user(user: Any, node_ids: list[int]) -> dict[str, Any]:
    """Template context for node tables: a badge per node, only for roles that see them."""
    if not access.can(user, Action.VIEW_ATTESTATION):
        return {}
    return {
        "show_attestation": True,
        "node_attestation": {nid: badges.view(b) for nid, b in node_badges(node_ids).items()},
    }


def latest_attestation(node: Node) -> Attestation | None:
    return Attestation.objects.filter(node=node).order_by("-at", "-id").first()


def node_history(node: Node, limit: int = 50) -> QuerySet[Attestation]:
    return (
        Attestation.objects.filter(node=node)
        .defer("quote", "signature", "eventlog")
        .order_by("-at", "-id")[:limit]
    )


def node_card(node: Node, *, now: datetime | None = None) -> dict[str, Any]:
    """What the node page's attestation card shows."""
    badge = node_badge(node, now=now)
    config = (
        NodeConfiguration.objects.select_related("release", "release__profile")
        .filter(node=node)
        .first()
    )
    return {
        "badge": badge,
        "badge_label": badges.LABELS[badge],
        "badge_css": badges.CSS[badge],
        "badge_help": badges.EXPLANATIONS[badge],
        "latest": latest_attestation(node),
        "last_trusted": Attestation.objects.filter(node=node, verdict="trusted")
        .order_by("-at")
        .values_list("at", flat=True)
        .first(),
        "enrolment": Enrolment.objects.filter(node=node, superseded_at__isnull=True).first(),
        "endpoint": AgentEndpoint.objects.filter(node=node).first(),
        "configuration": config,
    }


def attestation_for_user(user: Any, attestation_id: int | str) -> Attestation:
    """An attestation, reachable exactly when its node is (404 / 403 as for the node)."""
    try:
        node_id = Attestation.objects.values_list("node_id", flat=True).get(pk=attestation_id)
    except (Attestation.DoesNotExist, ValueError, TypeError):
        raise Http404("No such attestation.") from None
    access.node_for_user(user, node_id, Action.VIEW_ATTESTATION)
    return Attestation.objects.select_related("node", "node__site").get(pk=attestation_id)


def release_for_user(user: Any, release_id: int | str) -> FirmwareRelease:
    """A firmware release (engineers and admins: it names nodes and their measurements)."""
    if user.is_authenticated and user.role == "partner":
        raise Http404("No such firmware release.")
    access.require(user, Action.VIEW_ATTESTATION)
    try:
        return FirmwareRelease.objects.select_related("profile").get(pk=release_id)
    except (FirmwareRelease.DoesNotExist, ValueError, TypeError):
        raise Http404("No such firmware release.") from None


def releases() -> QuerySet[FirmwareRelease]:
    return FirmwareRelease.objects.select_related("profile").order_by("profile__sku", "version")


def release_implied_pcrs(release: FirmwareRelease, limit: int = 500) -> list[dict[str, Any]]:
    """For each node running ``release``: the sha256 PCR0-7 values it implies for that node."""
    from apps.attestation.services import reference_for

    rows = []
    configs = (
        NodeConfiguration.objects.filter(release=release)
        .select_related("node", "node__site", "release", "release__profile")
        .order_by("node__name")[:limit]
    )
    for config in configs:
        try:
            pcrs = reference_for(config).prediction.pcrs["sha256"]
            rows.append({"node": config.node, "pcrs": dict(sorted(pcrs.items())), "error": ""})
        except (predict.PredictionError, KeyError) as exc:
            rows.append({"node": config.node, "pcrs": {}, "error": str(exc)})
    return rows


def release_template_pcrs(release: FirmwareRelease) -> list[dict[str, Any]]:
    """The release's own events (firmware reference digests and configuration slots)."""
    return [
        {
            "pcr": e.pcr,
            "type": e.type_name if e.digests else _("(filled from the node's configuration)"),
            "slot": e.slot,
            "digest": e.digests.get("sha256", b"").hex(),
        }
        for e in release.to_release().template
    ]
