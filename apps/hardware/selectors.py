"""Reads about nodes' hardware for pages and the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.hardware.models import BmcFacts, NodeTelemetry, PowerAction
from apps.sites.models import Node, Site


def site_heat_at_risk_kw(nodes: list[Node], recovery: float = 0.9) -> float:
    """Thermal power the site loses while these nodes are off (from their latest draw)."""
    watts = sum(node.power_w or 0 for node in nodes if node.power_state == Node.PowerState.ON)
    return round(watts * recovery / 1000, 2)


def node_facts(node: Node) -> BmcFacts | None:
    return BmcFacts.objects.filter(node=node).first()


# How people write the FRU fields (``drivers.base.FruInventory``); other keys get their words.
INVENTORY_LABELS = {
    "manufacturer": gettext_noop("Manufacturer"),
    "product": gettext_noop("Product"),
    "serial": gettext_noop("Serial"),
    "part_number": gettext_noop("Part number"),
    "board_serial": gettext_noop("Board serial"),
    "chassis_serial": gettext_noop("Chassis serial"),
    "uuid": "UUID",
}


def inventory_fields(inventory: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A node's stored FRU inventory as ``(label, value)`` rows: the FRU fields in their usual
    order (PostgreSQL's jsonb keeps no key order), then any other key alphabetically; readable
    labels, fields the BMC left empty and the raw ``extra`` block left out."""
    inventory = inventory or {}
    known = [key for key in INVENTORY_LABELS if key in inventory]
    rows = []
    for key in known + sorted(set(inventory) - set(known)):
        value = inventory[key]
        if key == "extra" or value in (None, ""):
            continue
        known_label = INVENTORY_LABELS.get(key)
        label = _(known_label) if known_label else str(key).replace("_", " ").capitalize()
        rows.append((label, str(value)))
    return rows


def _sensor(facts: BmcFacts | None, names: tuple[str, ...]) -> float | None:
    if facts is None:
        return None
    values = [s["value"] for s in facts.sensors if s["name"] in names and s["value"] is not None]
    return max(values) if values else None


# How long the site page flags a node whose chassis was opened.
INTRUSION_RECENT = timedelta(days=7)


def node_grid(site: Site) -> list[Node]:
    """The site's nodes with their key temperatures (and a chassis intrusion of the last
    `INTRUSION_RECENT`), in two queries."""
    nodes = list(
        site.nodes.select_related("bmc_facts")
        .defer("bmc_facts__bios", "bmc_facts__bmc_log")
        .order_by("name")
    )
    recent = timezone.now() - INTRUSION_RECENT
    for node in nodes:
        facts = getattr(node, "bmc_facts", None)
        node.cpu_temp_c = _sensor(facts, ("CPU1 Temp", "CPU2 Temp"))
        node.water_out_c = _sensor(facts, ("Water Outlet",))
        node.last_error = facts.last_error if facts and not node.reachable else ""
        seen = facts.intrusion_seen_at if facts else None
        node.intrusion_at = seen if seen and seen >= recent else None
    return nodes


def node_actions(node: Node, limit: int = 20) -> QuerySet[PowerAction]:
    return node.power_actions.select_related("requested_by")[:limit]


def site_actions(site_id: int, limit: int = 30) -> QuerySet[PowerAction]:
    return (
        PowerAction.objects.filter(node__site_id=site_id)
        .select_related("node", "requested_by")
        .order_by("-requested_at", "-id")[:limit]
    )


def node_history(node: Node, hours: float = 6) -> dict[str, list[Any]]:
    """Sensor history of one node, oldest first, as columns for a chart (``at``: datetimes)."""
    since = timezone.now() - timedelta(hours=hours)
    rows = list(
        NodeTelemetry.objects.filter(node=node, at__gte=since)
        .order_by("at")
        .values_list("at", "power_w", "cpu_temp_c", "water_in_c", "water_out_c")
    )
    columns: dict[str, list[Any]] = {
        "at": [],
        "power_w": [],
        "cpu_temp_c": [],
        "water_in_c": [],
        "water_out_c": [],
    }
    for at, power, cpu, water_in, water_out in rows:
        columns["at"].append(at)
        columns["power_w"].append(power)
        columns["cpu_temp_c"].append(cpu)
        columns["water_in_c"].append(water_in)
        columns["water_out_c"].append(water_out)
    return columns


def _moment(text: Any) -> datetime | None:
    return parse_datetime(text) if isinstance(text, str) and text else None


def firmware_rows(facts: BmcFacts | None) -> list[dict[str, Any]]:
    """The stored firmware components for the node page (``read_at`` as a datetime)."""
    return [
        item | {"read_at": _moment(item.get("read_at")), "updateable": item.get("updateable")}
        for item in (facts.firmware if facts else None) or []
        if isinstance(item, dict)
    ]


def bmc_log_rows(facts: BmcFacts | None, *, intrusion: bool | None = None) -> list[dict[str, Any]]:
    """The stored BMC log entries, newest first (``created`` as a datetime, UTC); only the
    intrusions (or only the others) when ``intrusion`` says so."""
    entries = ((facts.bmc_log if facts else None) or {}).get("entries") or []
    return [
        entry | {"created": _moment(entry.get("created"))}
        for entry in entries
        if isinstance(entry, dict)
        and (intrusion is None or bool(entry.get("intrusion")) == intrusion)
    ]


def node_bmc_panels(facts: BmcFacts | None) -> dict[str, Any]:
    """What the node page's firmware, BIOS and BMC log panels show."""
    from apps.hardware.bios import bios_rows

    rows = bios_rows(facts)
    log = bmc_log_rows(facts)
    return {
        "firmware_rows": firmware_rows(facts),
        "bios_rows": rows,
        "bios_pending_count": sum(1 for r in rows if r["has_pending"]),
        "bios_read_at": _moment(((facts.bios if facts else None) or {}).get("read_at")),
        "log_rows": log,
        "log_intrusions": sum(1 for e in log if e.get("intrusion")),
        "log_read_at": _moment(((facts.bmc_log if facts else None) or {}).get("read_at")),
    }
