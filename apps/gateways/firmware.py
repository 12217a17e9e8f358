"""Firmware updates through a site gateway: the central half of the Redfish calls.

`apps.firmware.tracking` keeps the state machine and every decision. For a node whose site has
an active gateway its `_driver` is a `GatewayBmc`: each BMC call a step makes (the firmware
inventory, the send, the task monitor, the power state before the reset) becomes one sealed
call to the gateway (``gw.firmware``, the node's BMC credentials sealed to that gateway's key)
with a start-by time and a deadline, and the step stops there (`GatewayPending`). The gateway's
signed answer (`firmware_answer`) is kept on the call and hands the update to a worker again;
the step then runs as before, reading the answer where it called the BMC. A step that needs two
calls (the version read back after a task that is gone) asks the second the same way; the
answers a finished step used are then spent (`step_done`), so the next step asks afresh.

A call nobody answered by its deadline reads as the BMC error ``gateway_offline`` ("site
gateway offline"), not transient: the update fails with that reason at the deadline and the
gateway, past the call's start-by time, never makes the call later. An answer after the
deadline changes nothing (audited as ``gateway.late_answer``).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.gateways import dispatch, services, wire
from apps.gateways.models import Gateway, GatewayCall
from apps.hardware.drivers.base import (
    CAUSES,
    BmcError,
    FirmwareComponent,
    PowerState,
    TaskRef,
    TaskStatus,
)
from apps.hardware.protocols import endpoint_for

logger = logging.getLogger(__name__)
KIND = "firmware"  # the answers' kind; a call's own kind is "fw_<op>"
OFFLINE = "gateway_offline"
SENDS = ("simple", "push")  # the calls that change the BMC: journalled on the gateway
UPLOAD_MARGIN = 360.0  # s a send may take on the gateway (the adapter's upload bound + slack)


class GatewayPending(Exception):
    """The step asked the site gateway; its answer (or its deadline) brings the next step."""


class GatewayCallError(BmcError):
    """A call the gateway could not make, or that nobody answered: a `BmcError` for the state
    machine, with the gateway's causes (``gateway_offline``, ``gateway_revoked``,
    ``interrupted``, ``image``, ``sealed``, ``internal``) besides the BMC's."""

    def __init__(self, cause: str, message: str, *, transient: bool = False):
        Exception.__init__(self, message)
        self.cause, self.message, self.transient = cause, message, transient


def _error(cause: str, message: str, transient: bool) -> BmcError:
    if cause in CAUSES:
        return BmcError(cause, message or None, transient=transient)
    return GatewayCallError(
        cause, message or "The site gateway gave no reason.", transient=transient
    )


def port_for(update: Any) -> GatewayBmc | None:
    """The gateway stand-in for ``update``'s BMC when its site has an active gateway."""
    gateway = services.gateway_for_site(update.node.site_id)
    return GatewayBmc(update, gateway) if gateway is not None else None


def campaign_port(cn: Any) -> GatewayBmc | None:
    """The same for a campaign node's own reads (its versions, draw, power state): asked in
    one executor round, read in a later one (a new answer per step, attempt and round)."""
    gateway = services.gateway_for_site(cn.node.site_id)
    if gateway is None:
        return None
    return GatewayBmc(
        None,
        gateway,
        node=cn.node,
        subject=f"cnode:{cn.pk}",
        state=f"{cn.state}:{cn.step}:{cn.attempts}",
        actor=cn.campaign.approved_by,
    )


def _calls(subject: str):
    return GatewayCall.objects.filter(kind__startswith="fw_", detail__subject=subject)


# stored as the update's reason (English data; `firmware.campaign_text` translates at display)
REVOKED = "The site gateway %(gateway)s was revoked before it answered; check the node's firmware."
OFFLINE_SEND = (
    "site gateway offline: %(gateway)s did not answer by the deadline (%(deadline)s UTC) and "
    "will not send the image later; if it sent it before losing its uplink the BMC may hold a "
    "task for it. Check the node's firmware."
)
OFFLINE_ASK = (
    "site gateway offline: %(gateway)s did not answer by the deadline (%(deadline)s UTC) and "
    "will not ask the BMC later."
)


def offline_reason(call: GatewayCall) -> str:
    values = {"gateway": call.gateway.name, "deadline": f"{call.deadline:%Y-%m-%d %H:%M:%S}"}
    if call.detail.get("ended") == "revoked":
        return REVOKED % values
    return (OFFLINE_SEND if call.kind in (f"fw_{op}" for op in SENDS) else OFFLINE_ASK) % values


class GatewayBmc:
    """What `tracking` (or a campaign node's step) asks of a gateway site's BMC, through its
    gateway: one call per BMC request, the answer read back when the step runs again.
    ``subject`` and ``state`` say which step's answers are whose."""

    def __init__(
        self,
        update: Any,
        gateway: Gateway,
        *,
        node: Any = None,
        subject: str = "",
        state: str = "",
        actor: Any = None,
    ):
        self.update, self.gateway = update, gateway
        self.node = node if update is None else update.node
        self.subject = subject or f"update:{update.pk}"
        self.state = state or (update.state if update is not None else "")
        self.actor = actor if update is None else update.requested_by

    # -- the driver's methods tracking uses ------------------------------------------------

    def firmware(self) -> list[FirmwareComponent]:
        found = self._ask("inventory", {})
        return [
            FirmwareComponent(**{**item, "related": tuple(item.get("related") or ())})
            for item in found
        ]

    def task_status(self, ref: TaskRef) -> TaskStatus:
        return TaskStatus(**self._ask("task", {"ref": dataclasses.asdict(ref)}))

    def power_state(self) -> PowerState:
        return PowerState(**self._ask("power_state", {}))

    def system_power_watts(self) -> float | None:
        watts = self._ask("power_watts", {})
        return float(watts) if isinstance(watts, int | float) else None

    def firmware_send(self, targets: tuple[str, ...]) -> TaskRef:
        """SimpleUpdate (the BMC pulls from the site's relay, or from us) or push (the gateway
        downloads the image, checks its digest, uploads it). The one-time image URL is made
        only when the call goes, so a step run again never spoils a link the BMC holds."""
        from apps.firmware.image_urls import image_url_build

        op = "push" if self.update.method == "push" else "simple"
        args = {"targets": list(targets), "apply_time": self.update.apply_time}
        url = lambda: {"image_url": image_url_build(self.update)}  # noqa: E731
        return TaskRef(**self._ask(op, args, secret=url))

    # -- one call, one answer --------------------------------------------------------------

    def _ask(self, op: str, args: dict[str, Any], *, secret=None) -> Any:
        """The answer to ``op`` for the update's current state: read if there is one, an
        error if its deadline passed, otherwise asked now (or already asked): pending."""
        kind = f"fw_{op}"
        call = (
            _calls(self.subject)
            .filter(kind=kind, detail__state=self.state)
            .filter(detail__used=False)
            .select_related("gateway")
            .order_by("-sent_at")
            .first()
        )
        if call is None:
            self._send(op, args, secret() if secret else {})
            raise GatewayPending(kind)
        if call.status == GatewayCall.Status.SENT:
            raise GatewayPending(kind)
        if call.status == GatewayCall.Status.EXPIRED:
            cause = "gateway_revoked" if call.detail.get("ended") == "revoked" else OFFLINE
            raise GatewayCallError(cause, offline_reason(call))
        answer = call.detail.get("answer") or {}
        if not answer.get("ok"):
            cause, message = str(answer.get("cause") or "internal"), str(answer.get("message"))
            raise _error(cause, message, bool(answer.get("transient")))
        return answer.get("result")

    def _send(self, op: str, args: dict[str, Any], extra: dict[str, Any]) -> GatewayCall:
        update, gateway = self.update, self.gateway
        endpoint = endpoint_for(self.node, "redfish")  # CredentialError: the step's to handle
        now = timezone.now()
        budget = settings.GATEWAY_FIRMWARE_DEADLINE
        margin = UPLOAD_MARGIN if op in SENDS else settings.GATEWAY_START_MARGIN
        deadline = now + timedelta(seconds=budget)
        call = GatewayCall.objects.create(
            gateway=gateway,
            kind=f"fw_{op}",
            sent_at=now,
            start_by=deadline - timedelta(seconds=min(margin, budget / 2)),
            deadline=deadline,
            detail={
                "subject": self.subject,
                "state": self.state,
                "node_id": self.node.pk,
                "used": False,
                **({"update_id": update.pk} if update is not None else {}),
            },
        )
        call_id = str(call.pk)
        message = {
            "call_id": call_id,
            "gateway": gateway.name,
            "op": op,
            "args": args,
            # the relay keeps the image while the update runs
            "image_sha256": update.image.sha256 if update is not None else "",
            "start_by": call.start_by.timestamp(),
            "sealed": services.seal_for(
                gateway, call_id, {"endpoint": services.endpoint_plain(endpoint), **extra}
            ),
        }
        if op in SENDS:
            audit_record(
                actor=self.actor,
                action="firmware.update.gateway_send",
                target=self.node,
                result=AuditEvent.Result.PENDING,
                detail={"update_id": update.pk, "gateway": gateway.name, "call_id": call_id},
            )
        transaction.on_commit(lambda: _dispatch(call, message))
        return call


def _dispatch(call: GatewayCall, message: dict[str, Any]) -> None:
    try:
        dispatch.gateway_send(call.gateway.name, wire.FIRMWARE_TASK, message, expires=call.start_by)
        dispatch.deadline_send(str(call.pk), eta=call.deadline + timedelta(seconds=1))
    except Exception:
        # nothing reached the gateway: the call ends now as unanswered, its step fails with it
        logger.exception("firmware call %s could not be sent to %s", call.pk, call.gateway.name)
        with transaction.atomic():
            locked = GatewayCall.objects.select_for_update().filter(
                pk=call.pk, status=GatewayCall.Status.SENT
            )
            if locked.update(status=GatewayCall.Status.EXPIRED, deadline=timezone.now()):
                call_closed(call)


def send_port(update: Any) -> GatewayBmc | None:
    """The gateway ``update``'s send (found staging) went to, if it went to one: then that
    gateway's answer, not the interrupted-send rule, decides (the gateway journals a send and
    never makes it twice), even if the site has since lost its gateway (revoked: it fails)."""
    call = (
        _calls(f"update:{update.pk}")
        .filter(kind__in=[f"fw_{op}" for op in SENDS], detail__state=update.state)
        .filter(detail__used=False)
        .select_related("gateway")
        .first()
    )
    return GatewayBmc(update, call.gateway) if call is not None else None


def step_done(subject: str, started: datetime) -> int:
    """Spends the answers a finished step of ``subject`` (``update:<id>``, ``cnode:<id>``)
    could have read (closed before it started): the next step asks the gateway afresh."""
    spent = 0
    unused = _calls(subject).filter(detail__used=False).exclude(status=GatewayCall.Status.SENT)
    for call in unused:
        # an expired call is spent by any step that ends after it expired (the next asks anew)
        expired = call.status == GatewayCall.Status.EXPIRED
        if expired or (call.answered_at is not None and call.answered_at <= started):
            call.detail = {**call.detail, "used": True}
            call.save(update_fields=["detail"])
            spent += 1
    return spent


def call_closed(call: GatewayCall) -> None:
    """An answered or expired call: its update goes back to a worker (after the commit); a
    campaign node's is read by the executor's next round."""
    from apps.firmware import services as firmware

    update_id = call.detail.get("update_id")
    if update_id is not None:
        transaction.on_commit(lambda: firmware.firmware_update_enqueue(update_id))


def firmware_answer(gateway: Gateway, call_id: str, answer: dict[str, Any]) -> str:
    """The gateway's (verified) answer to a firmware call: kept for the step that asked."""
    with transaction.atomic():
        call = (
            GatewayCall.objects.select_for_update()
            .filter(pk=call_id, gateway=gateway, kind__startswith="fw_")
            .first()
            if _uuid(call_id)
            else None
        )
        if call is None:
            audit_record(
                actor=None,
                action="gateway.answer",
                target=gateway,
                result=AuditEvent.Result.REFUSED,
                detail={"call_id": call_id[:64], "reason": "not a call sent to this gateway"},
            )
            return "refused"
        if call.answered_at is not None:
            return "duplicate"
        late = call.status == GatewayCall.Status.EXPIRED
        call.answered_at = timezone.now()
        if not late:
            call.status = GatewayCall.Status.ANSWERED
            call.detail = {**call.detail, "answer": _answer_clean(answer)}
        call.save(update_fields=["status", "answered_at", "detail"])
        if late:
            audit_record(
                actor=None,
                action="gateway.late_answer",
                target=gateway,
                result=AuditEvent.Result.OK if answer.get("ok") else AuditEvent.Result.FAILED,
                detail={
                    "call_id": call_id,
                    "kind": call.kind,
                    "update_id": call.detail.get("update_id"),
                    "answer": _answer_clean(answer),
                },
            )
            return "late"
        call_closed(call)
        return "answered"


def _uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, TypeError):
        return False
    return True


def _answer_clean(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        words = "The site gateway's answer is malformed."
        return {"ok": False, "cause": "protocol", "message": words}
    return {
        "ok": bool(answer.get("ok")),
        "result": answer.get("result"),
        "cause": str(answer.get("cause") or "")[:32],
        "message": str(answer.get("message") or "")[:500],
        "transient": bool(answer.get("transient")),
    }
