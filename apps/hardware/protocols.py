"""Which protocol reaches a node's BMC, and the endpoint that speaks it.

An ``ipmi`` or ``redfish`` node is what it says. An ``auto`` node is probed (the unauthenticated
Redfish service root over HTTPS, `probe`) and is reached over Redfish once the probe found a
Redfish service *and* an engineer accepted that BMC's certificate; until then, and when nothing
answers Redfish, it is reached over IPMI, so a mixed fleet is polled from its first sweep. The
serial console is IPMI SOL whatever the protocol: Redfish only advertises consoles.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from apps.audit.services import audit_record
from apps.hardware.drivers.base import BmcEndpoint, BmcError
from apps.hardware.drivers.redfish import ServiceRoot, probe
from apps.sites.models import Node

# An `auto` node's probe is repeated this long after the last one (a BMC's firmware may gain
# Redfish; a dead BMC must not cost every sweep a probe).
PROBE_AGAIN = timedelta(minutes=15)
PROBE_CONCURRENCY = 16


def node_protocol(node: Node) -> str:
    """The protocol Heatsite uses for this node's power, sensors and details right now."""
    if node.bmc_protocol == Node.BmcProtocol.AUTO:
        if node.bmc_protocol_detected == "redfish" and node.bmc_tls_fingerprint:
            return "redfish"
        return "ipmi"
    return node.bmc_protocol


def has_serial_console(node: Node) -> bool:
    """IPMI SOL is the only console Heatsite opens; a Redfish-only BMC has none for it."""
    return node.bmc_protocol != Node.BmcProtocol.REDFISH


def endpoint_for(node: Node, protocol: str | None = None) -> BmcEndpoint:
    """The BMC endpoint of ``node`` for ``protocol`` (default: `node_protocol`)."""
    protocol = protocol or node_protocol(node)
    if protocol == "redfish":
        port, fingerprint = node.redfish_port, node.bmc_tls_fingerprint
    elif protocol == "ipmi":
        port, fingerprint = node.bmc_port, ""
    else:
        raise BmcError("bad_request", f"Unknown BMC protocol {protocol!r}.")
    return BmcEndpoint(
        host=node.bmc_host,
        port=port,
        username=node.bmc_username,
        password=node.bmc_password,
        protocol=protocol,  # type: ignore[arg-type]
        site=str(node.site_id),
        tls_fingerprint=fingerprint,
    )


def needs_probe(node: Node, now: datetime) -> bool:
    return node.bmc_protocol == Node.BmcProtocol.AUTO and (
        node.bmc_protocol_probed_at is None or node.bmc_protocol_probed_at < now - PROBE_AGAIN
    )


def bmc_protocol_detect(*, node: Node, now: datetime | None = None) -> str:
    """Probes an ``auto`` node's Redfish service root and records what answered ("redfish" or
    "ipmi") and, for Redfish, the certificate presented (to be accepted, never trusted here).
    A site gateway's node is not probed from here: its protocol stays what it was."""
    from apps.hardware import reach

    if reach.through_gateway(node):
        return node_protocol(node)
    root = probe(node.bmc_host, node.redfish_port, timeout=settings.BMC_TIMEOUT)
    return _detected(node, root, now or timezone.now())


def bmc_protocols_detect(*, nodes: list[Node], now: datetime | None = None) -> None:
    """`bmc_protocol_detect` for many nodes (the sweep's): the probes run concurrently, a dead
    BMC costs one timeout in parallel with the others; the records are written here."""
    if not nodes:
        return
    now = now or timezone.now()
    with ThreadPoolExecutor(min(PROBE_CONCURRENCY, len(nodes))) as pool:
        roots = list(
            pool.map(
                lambda n: probe(n.bmc_host, n.redfish_port, timeout=settings.BMC_TIMEOUT), nodes
            )
        )
    for node, root in zip(nodes, roots, strict=True):
        _detected(node, root, now)


def _detected(node: Node, root: ServiceRoot | None, now: datetime) -> str:
    from apps.hardware.certificates import certificate_record

    found = "redfish" if root is not None else "ipmi"
    changed = found != node.bmc_protocol_detected
    node.bmc_protocol_detected, node.bmc_protocol_probed_at = found, now
    Node.objects.filter(pk=node.pk).update(bmc_protocol_detected=found, bmc_protocol_probed_at=now)
    if changed:
        audit_record(
            actor=None,
            action="bmc.protocol_detected",
            target=node,
            detail={
                "protocol": found,
                "port": node.redfish_port,
                **({"product": root.product, "vendor": root.vendor} if root else {}),
            },
        )
    if root is not None:
        certificate_record(node=node, certificate=root.certificate, now=now)
    return found
