"""Enrolling, revoking and finding gateways; sealing a node's BMC credentials to its gateway.

A site without a gateway (the embedded default: none enrolled) has its hardware reached
directly by the central workers, as before gateways existed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.gateways import crypto, dispatch, rabbit, wire
from apps.gateways.models import Gateway, GatewayCall, GatewaySite
from apps.sites.models import Node, Site


class GatewayError(Exception):
    """A gateway request that cannot be done (bad name, site taken, broker refused)."""


@dataclass(frozen=True)
class Enrolment:
    """What the installer of a new gateway needs, shown once: its key file and config."""

    gateway: Gateway
    private_keys: str  # JSON, for the gateway's key file (0600)
    config: str  # TOML, the gateway's one config file

    def __repr__(self) -> str:
        return f"Enrolment({self.gateway.name!r})"


def _actor_check(actor: Any) -> None:
    if actor is not None:  # None: a management command run by the operator on the server
        access.require(actor, Action.MANAGE_GATEWAYS)


def _gateway_broker_url(name: str, password: str) -> str:
    public = settings.GATEWAY_BROKER_PUBLIC_URL or settings.GATEWAY_BROKER_URL
    parts = urlsplit(public)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(wire.rabbit_user(name))}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def config_render(*, name: str, broker_url: str, key_path: str, state_dir: str) -> str:
    return (
        f'name = "{name}"\n'
        f'broker_url = "{broker_url}"\n'
        f'private_key = "{key_path}"\n'
        f'state_dir = "{state_dir}"\n'
        '# [tls]\n# ca_file = "/etc/heatsite-gateway/ca.pem"\n'
    )


def gateway_enrol(
    *,
    actor: Any,
    name: str,
    sites: list[Site],
    key_path: str = "/etc/heatsite-gateway/gateway.key",
    state_dir: str = "/var/lib/heatsite-gateway",
) -> Enrolment:
    """A new gateway for ``sites``: its key pair (the private half returned once), its
    RabbitMQ user limited to its own queue, and its sites routed to it. Audited."""
    _actor_check(actor)
    if not wire.NAME_RE.match(name):
        raise GatewayError(
            gettext("A gateway name is lower-case letters, digits and dashes (max 48).")
        )
    if Gateway.objects.filter(name=name).exists():
        raise GatewayError(
            gettext("A gateway named %(name)r exists already (revoked names stay used).")
            % {"name": name}
        )
    taken = GatewaySite.objects.filter(site__in=sites).select_related("site", "gateway")
    if taken:
        link = taken[0]
        raise GatewayError(
            gettext("Site %(site)s is already served by gateway %(gateway)s.")
            % {"site": link.site.code, "gateway": link.gateway.name}
        )
    keys = crypto.keys_generate()
    password = secrets.token_urlsafe(24)
    with transaction.atomic():
        gateway = Gateway.objects.create(
            name=name,
            box_public_key=keys.box_public,
            signing_public_key=keys.signing_public,
            enrolled_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        GatewaySite.objects.bulk_create([GatewaySite(site=s, gateway=gateway) for s in sites])
        try:
            user = rabbit.user_create(name, password)
            dispatch.results_declare()
        except (rabbit.RabbitError, OSError) as error:
            transaction.set_rollback(True)
            failed = error
        else:
            failed = None
            audit_record(
                actor=actor,
                action="gateway.enrol",
                target=gateway,
                detail={"sites": [s.code for s in sites], "rabbitmq_user": user},
            )
    if failed is not None:
        audit_record(
            actor=actor,
            action="gateway.enrol",
            result=AuditEvent.Result.FAILED,
            detail={"name": name, "error": str(failed)},
        )
        raise GatewayError(
            gettext("The broker refused the gateway's user: %(error)s") % {"error": failed}
        )
    config = config_render(
        name=name,
        broker_url=_gateway_broker_url(name, password),
        key_path=key_path,
        state_dir=state_dir,
    )
    return Enrolment(gateway=gateway, private_keys=keys.to_json(), config=config)


def gateway_revoke(*, actor: Any, gateway: Gateway) -> Gateway:
    """Revokes a gateway: its RabbitMQ user is deleted (connections closed), its answers are
    refused from now on, and its sites are reached directly again. Audited."""
    _actor_check(actor)
    if gateway.status == Gateway.Status.REVOKED:
        return gateway
    error = ""
    try:
        rabbit.user_delete(gateway.name)
    except rabbit.RabbitError as failed:
        # revoked here regardless: its answers are refused by key, whatever the broker says
        error = str(failed)
    with transaction.atomic():
        sites = list(gateway.site_links.values_list("site__code", flat=True))
        gateway.status, gateway.revoked_at = Gateway.Status.REVOKED, timezone.now()
        gateway.save(update_fields=["status", "revoked_at"])
        gateway.site_links.all().delete()
        from apps.gateways.power import calls_of_revoked

        ended = calls_of_revoked(gateway)
        audit_record(
            actor=actor,
            action="gateway.revoke",
            target=gateway,
            detail={
                "sites": sites,
                "calls_ended": ended,
                **({"broker_error": error} if error else {}),
            },
        )
    return gateway


def gateway_for_site(site_id: int) -> Gateway | None:
    """The active gateway that reaches ``site_id``'s hardware, or None (direct)."""
    link = (
        GatewaySite.objects.filter(site_id=site_id, gateway__status=Gateway.Status.ACTIVE)
        .select_related("gateway")
        .first()
    )
    return link.gateway if link else None


def gateways_for_sites(site_ids: set[int]) -> dict[int, Gateway]:
    links = GatewaySite.objects.filter(
        site_id__in=site_ids, gateway__status=Gateway.Status.ACTIVE
    ).select_related("gateway")
    return {link.site_id: link.gateway for link in links}


def endpoint_plain(endpoint) -> dict[str, Any]:
    """A `BmcEndpoint` as the dict the gateway rebuilds it from (password included)."""
    return {
        "host": endpoint.host,
        "port": endpoint.port,
        "username": endpoint.username,
        "password": endpoint.password,
        "protocol": endpoint.protocol,
        "site": endpoint.site,
        "tls_fingerprint": endpoint.tls_fingerprint,
    }


def seal_for(gateway: Gateway, call_id: str, data: Any) -> dict[str, str]:
    """``data`` sealed to ``gateway`` for one call: the broker never sees it in clear."""
    return crypto.seal(gateway.box_public_key, data, aad=f"{gateway.name}:{call_id}")


def node_gateway(node: Node) -> Gateway | None:
    return gateway_for_site(node.site_id)


def answer_claim(gateway: Gateway, call_id: str, kind: str, what: str) -> bool:
    """Marks ``gateway``'s open call ``call_id`` of ``kind`` answered; False (audited as a
    refused answer) when it is no open call of that kind of this gateway: another gateway's, one
    answered already, or none."""
    with transaction.atomic():
        claimed = GatewayCall.objects.filter(
            pk=call_id, gateway=gateway, kind=kind, answered_at__isnull=True
        ).update(answered_at=timezone.now(), status=GatewayCall.Status.ANSWERED)
    if not claimed:
        audit_record(
            actor=None,
            action="gateway.answer",
            target=gateway,
            result=AuditEvent.Result.REFUSED,
            detail={"call_id": call_id, "reason": f"not an open {what} of this gateway"},
        )
    return bool(claimed)
