"""Firmware compliance: every node's component versions against the desired bundle of its SKU.

One computation (`compliance_compute`) behind the page, its CSV export and the API. Per node:

- ``up_to_date``: every component of the desired bundle reads back at the bundle's version;
- ``behind``: at least one component runs an older version. A node with some components behind
  and others ahead ("mixed") is ``behind`` too, with ``mixed`` set and the reason naming the
  ahead components: it needs the bundle (a campaign from the "behind" filter takes it), and the
  engineer sees which components that campaign would downgrade;
- ``ahead``: none behind, at least one newer than the bundle;
- ``unknown`` with a reason: no SKU, no desired bundle for the SKU, no firmware read from the
  BMC yet, a component the BMC does not report, or versions that are not comparable (not
  dotted numbers and not equal). One unknown component makes the node unknown: nothing can be
  concluded about it as a whole.

Queries are a fixed handful whatever the fleet size (nodes, configurations, BMC facts, desired
bundles with their components); the comparison is plain Python over those rows, then the
caller pages the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, gettext_lazy

from apps.attestation.models import NodeConfiguration, PlatformProfile
from apps.firmware.bundles import sku_of_node
from apps.firmware.manifests import version_key
from apps.firmware.models import BundleComponent, DesiredBundle
from apps.hardware.models import BmcFacts
from apps.sites.models import Node

UP_TO_DATE, BEHIND, AHEAD, UNKNOWN = "up_to_date", "behind", "ahead", "unknown"
STATUSES = (
    (UP_TO_DATE, gettext_lazy("Up to date")),
    (BEHIND, gettext_lazy("Behind")),
    (AHEAD, gettext_lazy("Ahead")),
    (UNKNOWN, gettext_lazy("Unknown")),
)
_STATUS_VALUES = {value for value, _ in STATUSES}


class ComplianceQueryError(ValueError):
    """A filter the view cannot use; its message says which and why."""


@dataclass(frozen=True)
class ComplianceQuery:
    """The filters: site (id or code), SKU, status, component, current version."""

    site: str = ""
    sku: str = ""
    status: str = ""
    component: str = ""
    version: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ComplianceQuery:
        values = {
            name: str(params.get(name) or "").strip()[:100]
            for name in ("site", "sku", "status", "component", "version")
        }
        if values["status"] and values["status"] not in _STATUS_VALUES:
            raise ComplianceQueryError(
                f"status: {values['status']!r} is not one of {', '.join(sorted(_STATUS_VALUES))}."
            )
        return cls(**values)

    def as_params(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass
class ComponentState:
    component: str
    current: str | None  # None: the BMC does not report it
    desired: str
    status: str


@dataclass
class NodeCompliance:
    node_id: int
    node: str
    site_id: int
    site: str
    timezone: str
    sku: str | None
    bundle_id: int | None
    bundle_version: str | None
    status: str
    reason: str = ""
    mixed: bool = False
    components: list[ComponentState] = field(default_factory=list)
    read_at: datetime | None = None
    # Everything the BMC reported, {component: version}, for the version filter.
    running: dict[str, str] = field(default_factory=dict)

    @property
    def status_label(self) -> str:
        return dict(STATUSES)[self.status]


@dataclass
class ComplianceResult:
    rows: list[NodeCompliance]
    # Per SKU ("" for nodes without one): {status: count}, over the site and SKU filters only.
    summary: dict[str, dict[str, int]]
    desired: dict[str, DesiredBundle]


@lru_cache(maxsize=4096)  # a fleet runs few distinct versions: compared once per pair
def _compare(current: str, desired: str) -> str | None:
    if current == desired:
        return UP_TO_DATE
    try:
        a, b = version_key(current), version_key(desired)
    except ValueError:
        return None
    return UP_TO_DATE if a == b else (BEHIND if a < b else AHEAD)


def _running(items: Any) -> tuple[dict[str, tuple[str, str]], datetime | None]:
    """The BMC's list as {lower-case id or name: (name, version)} and the oldest read."""
    found: dict[str, tuple[str, str]] = {}
    oldest = None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        name = str(item.get("component") or item.get("id") or "")
        version = str(item.get("version") or "")
        # Matched by id first, then by name, as the update tracker reads a version back.
        for key in (item.get("component"), item.get("id")):
            if key:
                found.setdefault(str(key).lower(), (name, version))
        read = parse_datetime(str(item["read_at"])) if item.get("read_at") else None
        if read is not None and (oldest is None or read < oldest):
            oldest = read
    return found, oldest


def _evaluate(row: NodeCompliance, wanted: list[tuple[str, str]], items: Any) -> None:
    running, row.read_at = _running(items)
    row.running = dict(running.values())
    if not running:
        row.status, row.reason = UNKNOWN, "No firmware read from the BMC yet."
        return
    unknown, behind, ahead = [], [], []
    for component, desired in wanted:
        seen = running.get(component.lower())
        if seen is None or not seen[1]:
            state = ComponentState(component, None, desired, UNKNOWN)
            unknown.append(f"{component} not reported by the BMC")
        else:
            status = _compare(seen[1], desired)
            state = ComponentState(component, seen[1], desired, status or UNKNOWN)
            if status is None:
                unknown.append(f"{component} {seen[1]!r} not comparable with {desired!r}")
            elif status == BEHIND:
                behind.append(f"{component} {seen[1]} < {desired}")
            elif status == AHEAD:
                ahead.append(f"{component} {seen[1]} > {desired}")
        row.components.append(state)
    if unknown:
        row.status, row.reason = UNKNOWN, "; ".join(unknown) + "."
    elif behind:
        row.status, row.mixed = BEHIND, bool(ahead)
        row.reason = "Behind: " + ", ".join(behind)
        row.reason += f"; ahead: {', '.join(ahead)}." if ahead else "."
    elif ahead:
        row.status, row.reason = AHEAD, "Ahead: " + ", ".join(ahead) + "."
    else:
        row.status = UP_TO_DATE


def _site_q(site: str) -> Q:
    return Q(site_id=int(site)) if site.isdigit() else Q(site__code__iexact=site)


def _sku_q(sku: str) -> Q:
    # The rule of `bundles.sku_of_node`, in SQL: the configuration's profile wins over the model.
    return Q(attestation_config__release__profile__sku__iexact=sku) | Q(
        attestation_config__isnull=True, model__iexact=sku
    )


def desired_bundles() -> dict[str, DesiredBundle]:
    """{SKU: desired bundle}, each with its components in apply order (two queries)."""
    rows = DesiredBundle.objects.select_related("profile", "bundle", "set_by")
    desired = {d.profile.sku: d for d in rows}
    parts: dict[int, list[tuple[str, str]]] = {}
    for bundle_id, component, version in BundleComponent.objects.filter(
        bundle_id__in=[d.bundle_id for d in desired.values()]
    ).values_list("bundle_id", "component", "version"):
        parts.setdefault(bundle_id, []).append((component, version))
    for item in desired.values():
        item.wanted = parts.get(item.bundle_id, [])  # type: ignore[attr-defined]
    return desired


def _matches(row: NodeCompliance, query: ComplianceQuery) -> bool:
    component = query.component.lower()
    if component:
        states = [c for c in row.components if c.component.lower() == component]
        running = {k.lower(): v for k, v in row.running.items()}
        if not states and component not in running:
            return False
        if query.status and not (
            any(c.status == query.status for c in states)
            or (not states and query.status == UNKNOWN)
        ):
            return False
        return not (query.version and running.get(component) != query.version)
    if query.status and row.status != query.status:
        return False
    return not (query.version and query.version not in row.running.values())


def compliance_compute(*, nodes: QuerySet[Node], query: ComplianceQuery) -> ComplianceResult:
    """Every node of ``nodes`` (from `access.compliance_nodes_for_user`) against its SKU's
    desired bundle, filtered by ``query``, in site then node order; the summary counts ignore
    the status, component and version filters so the table can be narrowed beside them."""
    if query.site:
        nodes = nodes.filter(_site_q(query.site))
    if query.sku:
        nodes = nodes.filter(_sku_q(query.sku))
    rows = list(
        nodes.order_by("site__code", "name").values_list(
            "id", "name", "site_id", "site__code", "site__timezone", "model"
        )
    )
    ids = nodes.values("pk")
    configured = dict(
        NodeConfiguration.objects.filter(node__in=ids).values_list(
            "node_id", "release__profile__sku"
        )
    )
    firmware = dict(BmcFacts.objects.filter(node__in=ids).values_list("node_id", "firmware"))
    skus = {s.lower(): s for s in PlatformProfile.objects.values_list("sku", flat=True)}
    desired = desired_bundles()
    out: list[NodeCompliance] = []
    summary: dict[str, dict[str, int]] = {}
    for node_id, name, site_id, code, tz, model in rows:
        sku = sku_of_node(configured=configured.get(node_id), model=model, skus=skus)
        want = desired.get(sku) if sku else None
        row = NodeCompliance(
            node_id=node_id,
            node=name,
            site_id=site_id,
            site=code,
            timezone=tz,
            sku=sku,
            bundle_id=want.bundle_id if want else None,
            bundle_version=want.bundle.version if want else None,
            status=UNKNOWN,
        )
        if want is None:
            running, row.read_at = _running(firmware.get(node_id))
            row.running = dict(running.values())
            row.reason = (
                gettext("No desired bundle for SKU %(sku)s.") % {"sku": sku}
                if sku
                else gettext("No SKU: model %(model)r is not a known platform profile.")
                % {"model": model or "(none)"}
            )
        else:
            _evaluate(row, want.wanted, firmware.get(node_id))  # type: ignore[attr-defined]
        counts = summary.setdefault(sku or "", {value: 0 for value, _ in STATUSES})
        counts[row.status] += 1
        if _matches(row, query):
            out.append(row)
    return ComplianceResult(rows=out, summary=dict(sorted(summary.items())), desired=desired)


CSV_HEADER = [
    "site",
    "node",
    "sku",
    "desired_bundle",
    "status",
    "mixed",
    "component",
    "current",
    "desired",
    "component_status",
    "read_at",
    "reason",
]


def compliance_csv_rows(result: ComplianceResult) -> list[list[str]]:
    """One line per node and component (a node without components: one line), for the CSV."""
    lines = []
    for row in result.rows:
        base = [row.site, row.node, row.sku or "", row.bundle_version or "", row.status]
        base.append("yes" if row.mixed else "")
        read = row.read_at.isoformat() if row.read_at else ""
        for c in row.components or [None]:
            parts = [c.component, c.current or "", c.desired, c.status] if c else ["", "", "", ""]
            lines.append([*base, *parts, read, row.reason])
    return lines
