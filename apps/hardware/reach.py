"""Which BMC calls this process may make itself.

A node whose site has an active gateway (`apps.gateways.services.gateway_for_site`) is reached
only through it: IPMI and Redfish never cross the Internet. Power actions, polls, firmware,
TPM quotes and consoles have a gateway path; the calls below do not have one yet, so for such a
node they are refused (or, for the periodic reads, skipped) with the reason `gateway_refusal`
gives, and no driver is built here.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext, gettext_noop

from apps.sites.models import Node

CAUSE = "via_gateway"  # the cause recorded when a call is refused for this reason

WHAT = {
    "bios": gettext_noop("changing BIOS settings"),
    "rotation": gettext_noop("BMC password rotation"),
    "details": gettext_noop(
        "reading the BMC details (inventory, firmware, boot device, BIOS settings, log)"
    ),
}


def gateway_refusal(node: Node, what: str) -> str:
    """Empty when this process reaches ``node``'s BMC itself; otherwise why ``what`` (a key of
    `WHAT`) is not done for it, in the active language."""
    from apps.gateways.services import gateway_for_site

    gateway = gateway_for_site(node.site_id)
    if gateway is None:
        return ""
    return gettext(
        "Not available through a site gateway yet: %(what)s. %(node)s is reached through the "
        "site gateway %(gateway)s, and its BMC is never contacted from here."
    ) % {"what": gettext(WHAT[what]), "node": node.name, "gateway": gateway.name}


def through_gateway(node: Node) -> bool:
    """True when ``node``'s BMC is reached only through its site's gateway."""
    from apps.gateways.services import gateway_for_site

    return gateway_for_site(node.site_id) is not None


def reached_directly(nodes: QuerySet[Node]) -> QuerySet[Node]:
    """``nodes`` without those of sites with an active gateway."""
    from apps.gateways.models import Gateway, GatewaySite

    gatewayed = GatewaySite.objects.filter(gateway__status=Gateway.Status.ACTIVE)
    return nodes.exclude(site_id__in=gatewayed.values("site_id"))
