"""BMC password rotation: a new random password per node, set on the BMC, verified, then stored.

Access is never lost, because every step is stored before the next one touches the BMC:

1. the new password is stored encrypted as the node's *pending* password (the current one stays
   stored and in use), the rotation state is "pending";
2. it is set on the BMC (Redfish ``AccountService`` or IPMI Set User Password, over the
   protocol Heatsite uses for the node);
3. a fresh login with it (a power state read, on every face Heatsite uses) verifies it; only
   then does it become the current password, and the pending one is cleared.

A run that finds a pending password was preceded by one that died (a killed worker): it first
asks the BMC which password it takes. The pending one → promoted, without a second change; the
current one → the pending one is set again; neither → failed with the reason, both kept. A
failure leaves the node flagged ("failed" and the reason, shown on the node page); the pending
password is only ever cleared by its promotion, so whatever the BMC ended up with is stored.

Runs on one node are kept apart by a lease (`lease`) taken with a conditional update, not a
row lock held across BMC calls; a second run while one holds the lease is refused
(`RotationBusy`). Nothing here logs, audits or raises a password: reasons are scrubbed of both.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import string
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts import access
from apps.accounts.models import User
from apps.accounts.policy import Action
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core import crypto
from apps.core.crypto import CredentialError
from apps.hardware import reach
from apps.hardware.drivers.base import CAUSES, BmcError, driver_for
from apps.hardware.protocols import endpoint_for, node_protocol
from apps.sites.models import Node

logger = logging.getLogger(__name__)

ACTION = "bmc.password_rotate"
# 16 characters: IPMI's 16-byte form (v1.5), its 20-byte one and every Redfish BMC's range;
# letters, digits and three symbols no BMC is known to refuse, each class at least once.
PASSWORD_LENGTH = 16
SYMBOLS = "-_."
ALPHABET = string.ascii_letters + string.digits + SYMBOLS
CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, SYMBOLS)
State = Node.BmcRotationState


class RotationBusy(Exception):
    """Another rotation of the node holds the lease; ``retry_at`` is when it lapses."""

    def __init__(self, node: Node, retry_at: datetime):
        self.retry_at = retry_at
        super().__init__(
            f"A password rotation of {node.name} is already in progress (since "
            f"{node.bmc_rotation_started_at:%H:%M:%S} UTC); wait for it to finish."
        )


class RotationFailed(Exception):
    """The rotation stopped; the message says why and what is stored (never a password)."""


@dataclasses.dataclass(frozen=True)
class RotationResult:
    """What `bmc_password_rotate` did: ``outcome`` is "rotated" (set and verified),
    "promoted" (resumed: the BMC already had the pending password) or "failed"."""

    node_id: int
    node_name: str
    outcome: str
    message: str

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"


def password_generate(*, username: str = "") -> str:
    """A random password every BMC takes (see `PASSWORD_LENGTH`, `ALPHABET`): each character
    class present, no character three times in a row, not containing the user name."""
    while True:
        chars = [secrets.choice(group) for group in CLASSES]
        chars += [secrets.choice(ALPHABET) for _ in range(PASSWORD_LENGTH - len(CLASSES))]
        secrets.SystemRandom().shuffle(chars)
        password = "".join(chars)
        tripled = any(
            a == b == c for a, b, c in zip(password, password[1:], password[2:], strict=False)
        )
        if not tripled and not (username and username.lower() in password.lower()):
            return password


def lease() -> timedelta:
    """How long a run holds its node (``BMC_ROTATION_LEASE``): longer than any run (a few BMC
    calls, each bounded by ``BMC_TIMEOUT``); a run past it died, and the next one resumes."""
    return timedelta(seconds=settings.BMC_ROTATION_LEASE)


def bmc_rotation_busy(node: Node, now: datetime | None = None) -> bool:
    """True while a rotation of ``node`` holds the lease."""
    now = now or timezone.now()
    started = node.bmc_rotation_started_at
    return (
        node.bmc_rotation_state == State.PENDING and started is not None and started > now - lease()
    )


def bmc_password_rotate(*, node: Node, actor: Any, now: datetime | None = None) -> RotationResult:
    """Rotates the BMC password of ``node`` (see module docstring), or resumes the rotation a
    dead run left. ``actor`` None is the system (commands); a user needs ``CONFIGURE_BMC``.
    Raises `RotationBusy` while another run holds the lease; BMC failures are a result."""
    if actor is not None:
        access.require(actor, Action.CONFIGURE_BMC)
    now = now or timezone.now()
    node = Node.objects.select_related("site").get(pk=node.pk)
    refusal = _refusal(node)
    if refusal:
        audit_record(
            actor=actor, action=ACTION, target=node, result=AuditEvent.Result.REFUSED,
            detail={"reason": refusal},
        )  # fmt: skip
        return RotationResult(node.pk, node.name, "failed", refusal)
    _claim(node, now)
    resumed = bool(node.bmc_password_pending_encrypted)
    protocol = node_protocol(node)
    audit_record(
        actor=actor, action=ACTION, target=node, result=AuditEvent.Result.PENDING,
        detail={"step": "start", "protocol": protocol, "resumed": resumed},
    )  # fmt: skip
    secrets_seen: list[str] = []

    def done(outcome: str) -> None:
        # In the promotion's transaction: a run killed after it cannot leave an unaudited change.
        audit_record(
            actor=actor, action=ACTION, target=node, result=AuditEvent.Result.OK,
            detail={"step": "done", "protocol": protocol, "outcome": outcome, "resumed": resumed},
        )  # fmt: skip

    try:
        outcome = _run(node, now, secrets_seen, done)
    except (RotationFailed, BmcError, CredentialError) as error:
        reason = _scrub(_reason(error), secrets_seen)
        return _failed(node, actor, reason, protocol)
    except Exception as error:
        # A bug must not leave the node "in progress" until the lease lapses, nor be silent.
        logger.error("BMC password rotation of %s failed unexpectedly (%s)", node.name,
                     type(error).__name__)  # fmt: skip
        reason = f"Internal error ({type(error).__name__}); both passwords are kept stored."
        return _failed(node, actor, reason, protocol)
    message = (
        f"The BMC already had the pending new password (an earlier run stopped before storing "
        f"it); verified over {protocol.upper()} and stored."
        if outcome == "promoted"
        else f"New password set over {protocol.upper()}, verified and stored."
    )
    logger.info("BMC password of %s rotated (%s, %s)", node.name, protocol, outcome)
    return RotationResult(node.pk, node.name, outcome, message)


def _refusal(node: Node) -> str:
    """Why ``node`` is not rotated at all (nothing stored, nothing sent), or empty."""
    # A site gateway's node: setting the password would need the BMC from here (`reach`).
    return _missing_configuration(node) or reach.gateway_refusal(node, "rotation")


def _missing_configuration(node: Node) -> str:
    if not node.bmc_host:
        return "The node has no BMC address."
    if not node.bmc_username:
        return "The node has no BMC user name: there is no account to rotate."
    if not node.bmc_password_encrypted:
        return "The node has no stored BMC password: set one before rotating it."
    return ""


def _claim(node: Node, now: datetime) -> None:
    """Takes the lease (conditional update) or raises `RotationBusy`."""
    free = ~Q(bmc_rotation_state=State.PENDING) | Q(bmc_rotation_started_at__isnull=True)
    lapsed = Q(bmc_rotation_started_at__lte=now - lease())
    claimed = (
        Node.objects.filter(pk=node.pk)
        .filter(free | lapsed)
        .update(
            bmc_rotation_state=State.PENDING, bmc_rotation_started_at=now, bmc_rotation_error=""
        )
    )
    node.refresh_from_db()
    if not claimed:
        raise RotationBusy(node, node.bmc_rotation_started_at + lease())


def _run(node: Node, now: datetime, secrets_seen: list[str], done: Callable[[str], None]) -> str:
    old = node.bmc_password
    secrets_seen.append(old)
    token = node.bmc_password_pending_encrypted
    resumed = bool(token)
    if not resumed:
        token = crypto.encrypt(password_generate(username=node.bmc_username))
        # Stored before the BMC is touched; only if no other run stored one meanwhile.
        stored = Node.objects.filter(pk=node.pk, bmc_password_pending_encrypted="").update(
            bmc_password_pending_encrypted=token
        )
        if not stored:
            node.refresh_from_db()
            token, resumed = node.bmc_password_pending_encrypted, True
    new = crypto.decrypt(token)
    secrets_seen.append(new)
    if resumed:
        refused = _login_error(node, new)
        if refused is None:
            _promote(node, token, new, now, lambda: done("promoted"))
            return "promoted"
        if refused.cause == "bad_credentials":
            refused = _login_error(node, old)
        if refused is not None and refused.cause != "bad_credentials":
            raise RotationFailed(  # nothing is decided without the BMC's word
                "A previous rotation left a new password pending, and the BMC cannot be asked "
                f"which one it takes: {refused.message} Both passwords are kept stored."
            )
        if refused is not None:
            raise RotationFailed(
                "A previous rotation left a new password pending, and the BMC takes neither the "
                f"stored password nor the pending one ({refused.message}); both are kept stored. "
                "Check the BMC account, then rotate again."
            )
    driver = driver_for(endpoint_for(node), timeout=settings.BMC_TIMEOUT)
    try:
        driver.set_account_password(node.bmc_username, new)
    except BmcError as error:
        if error.transient:  # the request may have reached the BMC before the answer was lost
            raise RotationFailed(
                f"Setting the new password failed ({error.message}); the BMC may have it. The "
                "stored password is unchanged; the new one is kept (encrypted) and the next "
                "rotation checks which one the BMC takes."
            ) from error
        raise RotationFailed(
            f"The BMC did not take the new password: {error.message} The stored password is "
            "unchanged."
        ) from error
    refused = _login_error(node, new)
    if refused is not None:
        what = (
            "it does not log in"
            if refused.cause == "bad_credentials"
            else "logging in with it could not be tried"
        )
        raise RotationFailed(
            f"The BMC accepted the new password but {what} ({refused.message}). The stored "
            "password is unchanged; the new one is kept (encrypted) and tried first by the next "
            "rotation."
        )
    _promote(node, token, new, now, lambda: done("rotated"))
    return "rotated"


def _faces(node: Node) -> list[str]:
    """Every protocol Heatsite logs in with: the one in use, and IPMI for an ``auto`` node
    reached over Redfish (its serial console is IPMI SOL, with the same account)."""
    protocol = node_protocol(node)
    if protocol == "redfish" and node.bmc_protocol == Node.BmcProtocol.AUTO:
        return ["redfish", "ipmi"]
    return [protocol]


def _login_error(node: Node, password: str) -> BmcError | None:
    """None when ``password`` logs in on every face of the node, else the first error. The
    drivers' caches only reuse a session logged in with this very password."""
    for protocol in _faces(node):
        endpoint = dataclasses.replace(endpoint_for(node, protocol), password=password)
        try:
            driver_for(endpoint, timeout=settings.BMC_TIMEOUT).power_state()
        except BmcError as error:
            return error
    return None


def _promote(node: Node, token: str, new: str, now: datetime, done: Callable[[], None]) -> None:
    with transaction.atomic():
        promoted = Node.objects.filter(pk=node.pk, bmc_password_pending_encrypted=token).update(
            bmc_password_encrypted=token,
            bmc_password_pending_encrypted="",
            bmc_rotation_state=State.NONE,
            bmc_rotation_error="",
            bmc_password_rotated_at=now,
        )
        if not promoted:
            # re-encrypted under a new key meanwhile (rotate_credentials), or already promoted
            current = Node.objects.select_for_update().get(pk=node.pk)
            if current.bmc_password_pending and current.bmc_password_pending == new:
                current.bmc_password_encrypted = current.bmc_password_pending_encrypted
                current.bmc_password_pending_encrypted = ""
            elif current.bmc_password != new:
                raise RotationFailed(
                    "The node's stored passwords changed during the rotation; nothing was "
                    "overwritten. Rotate again."
                )
            current.bmc_rotation_state, current.bmc_rotation_error = State.NONE, ""
            current.bmc_password_rotated_at = now
            current.save(
                update_fields=[
                    "bmc_password_encrypted",
                    "bmc_password_pending_encrypted",
                    "bmc_rotation_state",
                    "bmc_rotation_error",
                    "bmc_password_rotated_at",
                ]
            )
        done()


def _failed(node: Node, actor: Any, reason: str, protocol: str) -> RotationResult:
    with transaction.atomic():
        Node.objects.filter(pk=node.pk).update(
            bmc_rotation_state=State.FAILED, bmc_rotation_error=reason[:500]
        )
        audit_record(
            actor=actor, action=ACTION, target=node, result=AuditEvent.Result.FAILED,
            detail={"step": "done", "protocol": protocol, "reason": reason},
        )  # fmt: skip
    logger.warning("BMC password rotation of %s failed: %s", node.name, reason)
    return RotationResult(node.pk, node.name, "failed", reason)


def _reason(error: Exception) -> str:
    if isinstance(error, BmcError):
        return f"{error.message} Both passwords are kept stored."
    if isinstance(error, CredentialError):
        return "A stored BMC password cannot be decrypted with the configured keys."
    return str(error)


def _scrub(text: str, secrets_seen: list[str]) -> str:
    """A BMC may echo what it was sent in its error message: never pass a password on. (A
    password that is a word of Heatsite's own messages, like the lab's "password", is left:
    masking it would garble every reason and hide nothing.)"""
    for secret in secrets_seen:
        if secret and secret.lower() not in _VOCABULARY:
            text = text.replace(secret, "***")
    return text


_VOCABULARY = " ".join(message for _, message in CAUSES.values()).lower()


# --- requests from people (page, API) and the task ----------------------------------------


def bmc_password_rotate_request(*, actor: User, node: Node, source: str) -> None:
    """Queues a rotation of ``node`` (engineers); audited, sent to the worker on commit.
    Raises `RotationBusy` when one is in progress."""
    access.require(actor, Action.CONFIGURE_BMC)
    node = Node.objects.get(pk=node.pk)
    now = timezone.now()
    if bmc_rotation_busy(node, now):
        busy = RotationBusy(node, node.bmc_rotation_started_at + lease())
        audit_record(
            actor=actor, action=ACTION, target=node, result=AuditEvent.Result.REFUSED,
            detail={"source": source, "reason": str(busy)},
        )  # fmt: skip
        raise busy
    refusal = _refusal(node)
    if refusal:
        audit_record(
            actor=actor, action=ACTION, target=node, result=AuditEvent.Result.REFUSED,
            detail={"source": source, "reason": refusal},
        )  # fmt: skip
        raise RotationFailed(refusal)
    audit_record(
        actor=actor, action=ACTION, target=node, result=AuditEvent.Result.PENDING,
        detail={"step": "queued", "source": source},
    )  # fmt: skip
    requested_at = now.isoformat()

    def send() -> None:
        from apps.hardware.tasks import bmc_password_rotate_task

        try:
            bmc_password_rotate_task.delay(node.pk, actor.pk, requested_at)
        except Exception as error:
            # Nothing was stored nor sent to the BMC: say so rather than fail the request.
            logger.error("BMC password rotation of %s could not be queued (%s)", node.name,
                         type(error).__name__)  # fmt: skip
            reason = "The task queue is unavailable; nothing was sent to the BMC. Try again."
            Node.objects.filter(pk=node.pk).exclude(bmc_rotation_state=State.PENDING).update(
                bmc_rotation_state=State.FAILED, bmc_rotation_error=reason
            )
            audit_record(
                actor=actor, action=ACTION, target=node, result=AuditEvent.Result.FAILED,
                detail={"source": source, "reason": reason},
            )  # fmt: skip

    transaction.on_commit(send)


@dataclasses.dataclass(frozen=True)
class Queued:
    """What `bmc_password_rotate_queued` did; ``retry_in`` seconds when the task should wait."""

    result: RotationResult | None
    retry_in: float | None = None


def bmc_password_rotate_queued(*, node_id: int, actor_id: int | None, requested_at: str) -> Queued:
    """The task's body. A request already served by a later rotation does nothing; one that
    finds another rotation running waits for its lease (a redelivered task whose run was
    killed finds its own lease, and resumes once it lapses)."""
    node = Node.objects.filter(pk=node_id).first()
    if node is None:
        return Queued(None)
    asked = datetime.fromisoformat(requested_at)
    if node.bmc_password_rotated_at is not None and node.bmc_password_rotated_at >= asked:
        return Queued(None)  # a double click, or a rotation that already served this request
    actor = User.objects.filter(pk=actor_id).first() if actor_id is not None else None
    if actor_id is not None and (actor is None or not access.can(actor, Action.CONFIGURE_BMC)):
        audit_record(
            actor=actor, action=ACTION, target=node, result=AuditEvent.Result.REFUSED,
            detail={"reason": "The requesting user may no longer configure BMCs."},
        )  # fmt: skip
        return Queued(None)
    try:
        return Queued(bmc_password_rotate(node=node, actor=actor))
    except RotationBusy as busy:
        wait = (busy.retry_at - timezone.now()).total_seconds()
        return Queued(None, retry_in=max(wait, 1.0) + 1.0)
