"""The "new campaign" form: its fields as a campaign file, its prefill from a link (the
compliance view's "plan a campaign for these nodes"), and the cross-check of a dry run against
the compliance filter it came from. Pure helpers for `apps.firmware.campaign_views`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from apps.firmware.campaign_plan import CampaignPlan
from apps.firmware.campaign_spec import CampaignSpecError
from apps.firmware.compliance import (
    BEHIND,
    STATUSES,
    ComplianceQuery,
    ComplianceQueryError,
    compliance_compute,
    desired_bundles,
)

NUMBERS = (
    ("soak_minutes", gettext_lazy("Soak between waves (min)")),
    ("max_down_per_site", gettext_lazy("Max nodes down per site")),
    ("max_site_loss_pct", gettext_lazy("Max share of a site's heat lost (%)")),
    ("max_parallel", gettext_lazy("Max nodes in flight (fleet)")),
    ("node_minutes", gettext_lazy("Expected minutes per node")),
    ("node_timeout_minutes", gettext_lazy("Timeout per node (min)")),
    ("retries", gettext_lazy("Retries per node")),
    ("success_threshold_pct", gettext_lazy("Success threshold to advance (%)")),
    ("error_threshold_count", gettext_lazy("Halt after N failures")),
    ("error_threshold_pct", gettext_lazy("Halt above this share of failures (%)")),
    ("error_min_sample", gettext_lazy("…after at least N nodes")),
)
# What a link may prefill (the form's own names), and the compliance filter it came from.
PREFILL = ("name", "bundle", "sites", "nodes", "current", "waves", *(k for k, _ in NUMBERS))
ORIGIN = ("sku", "status", "site", "component", "version")
FIELD_MAX = 2000  # a prefilled field longer than this is cut (a link, not a campaign file)


def _words(text: str) -> list[Any]:
    items = [w.strip() for w in text.replace("\n", ",").split(",") if w.strip()]
    return [int(w) if w.isdigit() else w for w in items]


def form_spec(post: Mapping[str, Any]) -> dict[str, Any]:
    """The campaign file's mapping from the form (checked by the same `spec_load`)."""
    current = {}
    for pair in _words(post.get("current", "")):
        component, _sep, version = str(pair).partition("=")
        if not version:
            raise CampaignSpecError(
                gettext_noop("Current versions: write COMPONENT=VERSION, not %(pair)r."), pair=pair
            )
        current[component.strip()] = version.strip()
    strategy: dict[str, Any] = {"canary": post.get("canary") == "on"}
    if post.get("waves", "").strip():
        strategy["waves"] = post["waves"]
    for key, label in NUMBERS:
        text = post.get(key, "").strip()
        if text:
            try:
                strategy[key] = float(text) if "." in text else int(text)
            except ValueError:
                raise CampaignSpecError(
                    gettext_noop("%(label)s: %(text)r is not a number."), label=label, text=text
                ) from None
    bundle = post.get("bundle", "")
    return {
        "name": post.get("name", "").strip(),
        "bundle": int(bundle) if bundle.isdigit() else None,
        "targets": {
            "sites": _words(post.get("sites", "")),
            "nodes": _words(post.get("nodes", "")),
            "current": current,
        },
        "strategy": strategy,
    }


def form_initial(params: Mapping[str, Any], bundles: list[Any]) -> dict[str, str]:
    """The form's values from a link's query: its own fields, the compliance filter's site and
    current version as targets, and (no bundle given) the SKU's desired or newest bundle."""
    initial = {k: str(params.get(k, "")).strip()[:FIELD_MAX] for k in PREFILL if params.get(k)}
    if "sites" not in initial and params.get("site"):
        initial["sites"] = str(params["site"]).strip()[:100]
    component, version = params.get("component", ""), params.get("version", "")
    if "current" not in initial and component and version:
        initial["current"] = f"{component}={version}"[:200]
    sku = str(params.get("sku", "")).strip().lower()
    if "bundle" not in initial and sku:
        of_sku = [b for b in bundles if b.profile.sku.lower() == sku]
        wanted = {s.lower(): d.bundle_id for s, d in desired_bundles().items()}.get(sku)
        chosen = next(
            (b for b in of_sku if b.pk == wanted),
            max(of_sku, key=lambda b: b.uploaded_at, default=None),
        )
        if chosen is not None:
            initial["bundle"] = str(chosen.pk)
    if params.get("canary") in ("on", "off"):
        initial["canary"] = params["canary"]
    return initial


@dataclass
class Origin:
    """The compliance filter a dry run came from, and the nodes of the plan outside it."""

    query: ComplianceQuery
    matched: int = 0  # nodes the compliance filter matches
    outside: dict[str, int] = field(default_factory=dict)  # planned, not matched: per status
    outside_names: list[str] = field(default_factory=list)
    refusal: str = ""

    @property
    def label(self) -> str:
        parts = [_("SKU %(sku)s") % {"sku": self.query.sku} if self.query.sku else ""]
        if self.query.status:
            status = str(dict(STATUSES)[self.query.status]).lower()
            parts.append(_("status %(status)s") % {"status": status})
        if self.query.site:
            parts.append(_("site %(site)s") % {"site": self.query.site})
        if self.query.component and self.query.version:
            parts.append(f"{self.query.component} {self.query.version}")
        return ", ".join(p for p in parts if p)

    @property
    def outside_labels(self) -> list[tuple[str, int]]:
        """(status as the page names it, count) of the planned nodes outside the filter."""
        names = {k: str(v).lower() for k, v in STATUSES} | {"other": _("of another SKU")}
        return [(names.get(status, status), n) for status, n in self.outside.items()]

    @property
    def outside_count(self) -> int:
        return sum(self.outside.values())


def form_origin(params: Mapping[str, Any]) -> ComplianceQuery | None:
    """The compliance filter carried by the form (hidden ``origin_*`` fields) or by the link."""
    values = {k: params.get(f"origin_{k}") or params.get(k) or "" for k in ORIGIN}
    if not any(values.values()):
        return None
    try:
        return ComplianceQuery.from_params(values)
    except ComplianceQueryError:
        return ComplianceQuery.from_params({**values, "status": ""})


def origin_check(*, nodes: Any, query: ComplianceQuery, plan: CampaignPlan) -> Origin:
    """Which planned nodes the compliance filter did not match (the plan targets sites and
    versions; nodes "ahead" or of unknown versions there would be flashed too)."""
    query = query if query.status else ComplianceQuery(**{**query.__dict__, "status": BEHIND})
    result = compliance_compute(nodes=nodes, query=query)
    matched = {row.node_id for row in result.rows}
    planned = {node_id for wave in plan.waves for node_id in wave.node_ids}
    origin = Origin(query=query, matched=len(matched))
    missing = planned - matched
    if missing:
        everything = compliance_compute(
            nodes=nodes.filter(pk__in=missing), query=ComplianceQuery(sku=query.sku)
        )
        for row in everything.rows:
            origin.outside[row.status] = origin.outside.get(row.status, 0) + 1
            if len(origin.outside_names) < 10:
                origin.outside_names.append(row.node)
        counted = sum(origin.outside.values())
        if counted < len(missing):  # e.g. another SKU: not in the compliance rows at all
            origin.outside["other"] = len(missing) - counted
    return origin
