"""Fleet, site and node pages."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts import access
from apps.accounts.policy import Action
from apps.attestation import selectors as attestation_selectors
from apps.firmware import notices as firmware_notices
from apps.gateways import selectors as gateway_selectors
from apps.hardware import certificates as hardware_certificates
from apps.hardware import protocols as hardware_protocols
from apps.hardware import reach as hardware_reach
from apps.hardware import selectors as hardware_selectors
from apps.hardware.figures import SENSOR_WINDOW, sensor_figure
from apps.heat import live as heat_live
from apps.heat import views as heat_pages
from apps.sites import selectors
from apps.sites.models import Node


@login_required
def fleet(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.VIEW_SITE)
    query = selectors.FleetQuery.from_params(request.GET)
    page, flags = selectors.fleet_page(user=request.user, query=query)
    site_ids = [site.id for site in page]
    gateways = gateway_selectors.site_gateways_for_user(request.user, site_ids)
    for site in page:
        site.gateway = gateways.get(site.id)
    can_heat = access.can(request.user, Action.VIEW_HEAT)
    # The page's cells per site, the total as one SUM: both bounded whatever the fleet size.
    live_kw = heat_live.live_power(site_ids) if can_heat else {}
    context = {
        "page": page,
        "query": query,
        "show_heat": can_heat,
        "live_kw": {k: round(v, 2) for k, v in live_kw.items()},
        "fleet_total_kw": heat_live.live_total(
            access.sites_visible_to(request.user, Action.VIEW_HEAT)
        )
        if can_heat
        else None,
        "alarm_counts": heat_pages.fleet_alarm_counts(site_ids, request.user),
        "maintenance_notices": firmware_notices.site_maintenance_notices(page),
        "certificate_changed": hardware_certificates.nodes_with_changed_certificate(request.user),
        "statuses": selectors.Site.Status.choices,
        "status_counts": selectors.fleet_status_counts(user=request.user),
        **flags,
        **attestation_selectors.site_trust_for_user(request.user, site_ids),
    }
    if request.htmx and request.htmx.target == "fleet-table":
        return render(request, "sites/_fleet_table.html", context)
    return render(request, "sites/fleet.html", context)


@login_required
def site_detail(request: HttpRequest, site_id: int) -> HttpResponse:
    site = access.site_for_user(request.user, site_id, Action.VIEW_SITE)
    show_hardware = access.can(request.user, Action.VIEW_HARDWARE)
    show_heat = access.can(request.user, Action.VIEW_HEAT)
    nodes = hardware_selectors.node_grid(site) if show_hardware else []
    context = {
        "site": site,
        "show_heat": show_heat,
        **(heat_pages.site_heat_context(site, request.user) if show_heat else {}),
        "show_hardware": show_hardware,
        "nodes": nodes,
        "meters": site.meters.order_by("serial") if show_hardware else [],
        "can_power": access.can(request.user, Action.POWER_CONTROL),
        "actions": hardware_selectors.site_actions(site.pk) if show_hardware else [],
        "batch_id": request.GET.get("batch", "")
        if show_hardware and request.GET.get("batch", "").isdigit()
        else "",
        "power_kinds": [
            ("on", _("Power on")),
            ("soft", _("Shut down")),
            ("reset", _("Reset")),
            ("cycle", _("Cycle")),
            ("off", _("Power off")),
        ],
        **attestation_selectors.site_trust_for_user(request.user, [site.pk]),
        **attestation_selectors.node_badges_for_user(request.user, [n.pk for n in nodes]),
        "maintenance_notice": firmware_notices.site_maintenance_notice(site),
        # "gateway offline" is one alarm for the site, not "unreachable" on every node
        "gateway": gateway_selectors.site_gateways_for_user(request.user, [site.pk]).get(site.pk),
    }
    return render(request, "sites/site_detail.html", context)


@login_required
def site_nodes_fragment(request: HttpRequest, site_id: int) -> HttpResponse:
    site = access.site_for_user(request.user, site_id, Action.VIEW_HARDWARE)
    nodes = hardware_selectors.node_grid(site)
    context = {
        "site": site,
        "nodes": nodes,
        "can_power": access.can(request.user, Action.POWER_CONTROL),
        **attestation_selectors.node_badges_for_user(request.user, [n.pk for n in nodes]),
    }
    return render(request, "sites/_node_table.html", context)


def _sensor_figure(node: Node) -> dict[str, Any]:
    end = timezone.now()
    history = hardware_selectors.node_history(node, hours=SENSOR_WINDOW.total_seconds() / 3600)
    return sensor_figure(history, tz=node.site.tzinfo, start=end - SENSOR_WINDOW, end=end)


@login_required
def node_detail(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.VIEW_HARDWARE)
    facts = hardware_selectors.node_facts(node)
    context = {
        "node": node,
        "site": node.site,
        "facts": facts,
        "inventory": hardware_selectors.inventory_fields(facts.inventory if facts else None),
        "actions": hardware_selectors.node_actions(node),
        "sensor_figure": _sensor_figure(node),
        "can_power": access.can(request.user, Action.POWER_CONTROL),
        "boot_devices": ["network", "disk", "bios", "default"],
        "power_buttons": [
            ("on", _("Power on"), "success"),
            ("soft", _("Shut down"), "warning"),
            ("reset", _("Reset"), "danger"),
            ("cycle", _("Cycle"), "danger"),
            ("off", _("Power off"), "danger"),
        ],
        "certificate": hardware_certificates.certificate_display(node),
        "can_accept_certificate": access.can(request.user, Action.MANAGE_INVENTORY),
        "protocol_in_use": hardware_protocols.node_protocol(node),
        # a site gateway's node: why its details are not read (rather than "not read yet")
        "details_not_read": hardware_reach.gateway_refusal(node, "details"),
        "rotation_refused": hardware_reach.gateway_refusal(node, "rotation"),
        "bios_refused": hardware_reach.gateway_refusal(node, "bios"),
        "can_configure_bmc": access.can(request.user, Action.CONFIGURE_BMC),
        **hardware_selectors.node_bmc_panels(facts),
        "attestation": attestation_selectors.node_card(node)
        if access.can(request.user, Action.VIEW_ATTESTATION)
        else None,
    }
    return render(request, "sites/node_detail.html", context)
