"""Console sessions and keyboard hand-overs: the only writes of the console app.

Consumers call `console_session_open`/`console_session_close`; the broker, which decides who
holds the keyboard, calls `console_keyboard_record`. Each writes its audit event.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.services import audit_record
from apps.console.models import ConsoleSession
from apps.hardware.drivers.base import BmcEndpoint
from apps.hardware.services import endpoint_for
from apps.sites.models import Node

KEYBOARD_CHANGES = ("granted", "taken", "released", "requested")


@dataclasses.dataclass(frozen=True)
class ConsoleGateway:
    """The site gateway that opens a node's console: its name, public keys, and whether its
    last contact is older than GATEWAY_OFFLINE_AFTER."""

    name: str
    box_public_key: str
    signing_public_key: str
    offline: bool


@dataclasses.dataclass(frozen=True)
class ConsoleTarget:
    """What the broker needs to open a node's console (no model instance leaves this module);
    ``gateway`` set: the site's gateway opens the SOL session, the broker never does."""

    node_id: int
    name: str
    endpoint: BmcEndpoint
    gateway: ConsoleGateway | None = None


def console_session_open(*, user: Any, node: Node) -> ConsoleSession:
    """Records that `user` opened `node`'s console (re-checks the policy: engineers only)."""
    access.require(user, Action.OPEN_CONSOLE)
    with transaction.atomic():
        session = ConsoleSession.objects.create(node=node, user=user, username=user.get_username())
        audit_record(
            actor=user, action="console.open", target=node, detail={"session_id": session.pk}
        )
    return session


def console_session_close(*, session_id: int, reason: str) -> ConsoleSession | None:
    """Marks a console session closed once (a second call changes nothing); None if unknown."""
    with transaction.atomic():
        session = (
            # Lock the session row only: PostgreSQL refuses FOR UPDATE on an outer join.
            ConsoleSession.objects.select_for_update(of=("self",))
            .select_related("node", "node__site", "user")
            .filter(pk=session_id)
            .first()
        )
        if session is None or session.closed_at is not None:
            return session
        session.closed_at = timezone.now()
        session.close_reason = reason[:64]
        session.save(update_fields=["closed_at", "close_reason"])
        audit_record(
            actor=session.user,
            action="console.close",
            target=session.node,
            detail={
                "session_id": session.pk,
                "reason": session.close_reason,
                "seconds": round((session.closed_at - session.opened_at).total_seconds(), 1),
            },
        )
    return session


def console_keyboard_record(
    *, session_id: int, change: str, previous_session_id: int | None = None
) -> None:
    """Audits a keyboard change of a console session (`change` in KEYBOARD_CHANGES)."""
    if change not in KEYBOARD_CHANGES:
        raise ValueError(f"Unknown keyboard change {change!r}.")
    session = (
        ConsoleSession.objects.select_related("node", "node__site", "user")
        .filter(pk=session_id)
        .first()
    )
    if session is None:
        return
    detail: dict[str, Any] = {"session_id": session.pk, "change": change}
    if previous_session_id is not None:
        previous = ConsoleSession.objects.filter(pk=previous_session_id).first()
        detail["from_session_id"] = previous_session_id
        detail["from_user"] = previous.username if previous else ""
    audit_record(actor=session.user, action="console.keyboard", target=session.node, detail=detail)


def console_target(*, node_id: int) -> ConsoleTarget:
    """The node's name, BMC endpoint and site gateway (if any) for the broker; LookupError if
    the node is gone."""
    from apps.gateways.services import gateway_for_site

    node = Node.objects.filter(pk=node_id).first()
    if node is None:
        raise LookupError(f"No node {node_id}.")
    found = gateway_for_site(node.site_id)
    gateway = None
    if found is not None:
        limit = timezone.now() - timedelta(seconds=settings.GATEWAY_OFFLINE_AFTER)
        gateway = ConsoleGateway(
            name=found.name,
            box_public_key=found.box_public_key,
            signing_public_key=found.signing_public_key,
            offline=found.last_contact_at is None or found.last_contact_at < limit,
        )
    return ConsoleTarget(
        node_id=node.pk,
        name=node.name,
        endpoint=endpoint_for(node, protocol="ipmi"),
        gateway=gateway,
    )


def console_session_is_open(*, session_id: int, node_id: int, user_id: int) -> bool:
    """True when the session was recorded for this node and user and is not closed yet.

    The broker serves only recorded sessions: a message on the channel layer alone (another
    deployment sharing Redis, a stale request) never opens a BMC session.
    """
    return ConsoleSession.objects.filter(
        pk=session_id, node_id=node_id, user_id=user_id, closed_at__isnull=True
    ).exists()
