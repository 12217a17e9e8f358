"""Trust in a Redfish BMC's TLS certificate: recorded on first contact, accepted by an engineer.

BMC certificates are self-signed, so Heatsite trusts exactly the certificate an engineer
accepted (its SHA-256 fingerprint is pinned in ``Node.bmc_tls_fingerprint``, see decision 10).
When a Redfish call is refused because no certificate was accepted yet (``certificate_unknown``)
or because the BMC now presents another one (``certificate_changed``), `certificate_observe`
records what the BMC presents, for the node page to show. A changed certificate is never
trusted by itself: it is recorded, audited once per new certificate, pushed to the site's
hardware group and flagged on the node, site and fleet pages until an engineer accepts the new
one (after a BMC's certificate renewal) or the BMC presents the accepted one again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.realtime import broadcast
from apps.hardware.drivers.base import BmcError, CertificateInfo, normalize_fingerprint
from apps.hardware.drivers.redfish import fetch_certificate
from apps.sites.models import Node

logger = logging.getLogger(__name__)

CERTIFICATE_CAUSES = ("certificate_unknown", "certificate_changed")
# A refused node's presented certificate is read again at most this often by the sweep.
OBSERVE_AGAIN = timedelta(minutes=5)


class CertificateMismatch(Exception):
    """The certificate to accept is not the one the engineer was shown (or none was seen)."""


def _event(node: Node) -> dict[str, Any]:
    return {
        "type": "node.certificate",
        "node_id": node.pk,
        "state": node.bmc_cert_state,
        "fingerprint": node.bmc_cert_fingerprint,
    }


def certificate_record(
    *, node: Node, certificate: CertificateInfo, now: datetime | None = None
) -> Node:
    """Stores the certificate the BMC presents; a new one other than the accepted one is
    audited and pushed (once per certificate, not every sweep)."""
    now = now or timezone.now()
    new = certificate.fingerprint != node.bmc_cert_fingerprint
    node.bmc_cert_fingerprint = certificate.fingerprint
    node.bmc_cert_subject = certificate.subject[:300]
    node.bmc_cert_not_after = certificate.not_after
    node.bmc_cert_seen_at = now
    with transaction.atomic():
        Node.objects.filter(pk=node.pk).update(
            bmc_cert_fingerprint=node.bmc_cert_fingerprint,
            bmc_cert_subject=node.bmc_cert_subject,
            bmc_cert_not_after=node.bmc_cert_not_after,
            bmc_cert_seen_at=now,
        )
        state = node.bmc_cert_state
        if new and state in ("unaccepted", "changed"):
            audit_record(
                actor=None,
                action="bmc.certificate_changed"
                if state == "changed"
                else "bmc.certificate_presented",
                target=node,
                result=AuditEvent.Result.REFUSED if state == "changed" else AuditEvent.Result.OK,
                detail={
                    "presented": certificate.fingerprint,
                    "accepted": node.bmc_tls_fingerprint,
                    "subject": certificate.subject,
                    "not_after": certificate.not_after.isoformat()
                    if certificate.not_after
                    else None,
                },
            )
            if state == "changed":
                logger.warning(
                    "node %s: BMC presents certificate %s, not the accepted %s",
                    node.name,
                    certificate.fingerprint,
                    node.bmc_tls_fingerprint,
                )
        if new:
            broadcast(f"site.{node.site_id}.hardware", _event(node))
    return node


def certificate_observe(*, node: Node, now: datetime | None = None) -> CertificateInfo | None:
    """Reads and records the certificate the node's Redfish face presents (None: unreachable)."""
    try:
        certificate = fetch_certificate(
            node.bmc_host, node.redfish_port, timeout=settings.BMC_TIMEOUT
        )
    except BmcError as error:
        logger.info("node %s: certificate not readable: %s", node.pk, error.message)
        return None
    certificate_record(node=node, certificate=certificate, now=now)
    return certificate


def certificate_observe_due(node: Node, now: datetime) -> bool:
    return node.bmc_cert_seen_at is None or node.bmc_cert_seen_at < now - OBSERVE_AGAIN


def certificate_accept(*, actor: Any, node: Node, expected: str = "") -> Node:
    """Pins the certificate the BMC presented (the one shown on the node page).

    ``expected`` (the fingerprint the engineer saw) guards against accepting another one than
    displayed: a mismatch, or no certificate seen yet, raises `CertificateMismatch` (audited).
    """
    access.require(actor, Action.MANAGE_INVENTORY)
    wanted = normalize_fingerprint(expected) if expected else ""
    with transaction.atomic():
        locked = Node.objects.select_for_update().get(pk=node.pk)
        presented, previous = locked.bmc_cert_fingerprint, locked.bmc_tls_fingerprint
        refusal = ""
        if not presented:
            refusal = "The BMC has not presented a certificate yet; read it first (refresh)."
        elif wanted and wanted != presented:
            refusal = (
                "The BMC's certificate is not the one you were shown "
                f"(shown {wanted[:16]}…, now {presented[:16]}…); check it again."
            )
        if not refusal:
            locked.bmc_tls_fingerprint = presented
            locked.save(update_fields=["bmc_tls_fingerprint"])
            audit_record(
                actor=actor,
                action="bmc.certificate_accept",
                target=locked,
                detail={
                    "fingerprint": presented,
                    "previous": previous,
                    "subject": locked.bmc_cert_subject,
                    "not_after": locked.bmc_cert_not_after.isoformat()
                    if locked.bmc_cert_not_after
                    else None,
                },
            )
            broadcast(f"site.{locked.site_id}.hardware", _event(locked))
            return locked
    audit_record(
        actor=actor,
        action="bmc.certificate_accept",
        target=node,
        result=AuditEvent.Result.REFUSED,
        detail={"reason": refusal, "expected": wanted, "presented": presented},
    )
    raise CertificateMismatch(refusal)


def certificate_display(node: Node) -> dict[str, Any] | None:
    """What the node page shows about the BMC's certificate (None: not a Redfish node)."""
    if not (node.speaks_redfish or node.bmc_cert_fingerprint or node.bmc_tls_fingerprint):
        return None
    return {
        "state": node.bmc_cert_state or "unseen",
        "fingerprint": node.bmc_cert_fingerprint,
        "fingerprint_colons": ":".join(
            node.bmc_cert_fingerprint[i : i + 2].upper()
            for i in range(0, len(node.bmc_cert_fingerprint), 2)
        ),
        "accepted": node.bmc_tls_fingerprint,
        "subject": node.bmc_cert_subject,
        "not_after": node.bmc_cert_not_after,
        "seen_at": node.bmc_cert_seen_at,
    }


CHANGED_SHOWN = 20


def nodes_with_changed_certificate(user: Any) -> list[Node]:
    """Nodes the user may see whose BMC presents another certificate than the accepted one
    (the fleet page's red flag), at most `CHANGED_SHOWN`."""
    return list(
        access.nodes_visible_to(user, Action.VIEW_HARDWARE)
        .exclude(bmc_tls_fingerprint="")
        .exclude(bmc_cert_fingerprint="")
        .exclude(bmc_cert_fingerprint=F("bmc_tls_fingerprint"))
        .select_related("site")
        .order_by("site__code", "name")[:CHANGED_SHOWN]
    )


def certificate_trust_known(*, node: Node, certificate: CertificateInfo, source: str) -> Node:
    """Pins a certificate Heatsite knows by another way than the BMC's word (the demo's lab
    made it), for commands only: audited with ``source``, the actor is the system."""
    certificate_record(node=node, certificate=certificate)
    with transaction.atomic():
        previous = node.bmc_tls_fingerprint
        Node.objects.filter(pk=node.pk).update(bmc_tls_fingerprint=certificate.fingerprint)
        node.bmc_tls_fingerprint = certificate.fingerprint
        if previous != certificate.fingerprint:
            audit_record(
                actor=None,
                action="bmc.certificate_accept",
                target=node,
                detail={
                    "fingerprint": certificate.fingerprint,
                    "previous": previous,
                    "subject": certificate.subject,
                    "source": source,
                },
            )
    return node
