"""Power actions through a site gateway: the central half of `power_execute`.

`hardware.services.power_execute` keeps the state machine. For a site with a gateway it calls
`power_dispatch` (the action row locked) instead of the driver: the action is marked running
and one sealed call goes to the gateway's queue with a start-by time and a deadline. The
gateway's signed answer (`power_answer`) or the deadline (`call_expire`, "site gateway
offline") finishes it, whichever comes first; the other then changes nothing (a late answer
is audited, and the node's state it reports is kept).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.crypto import CredentialError
from apps.gateways import dispatch, services, wire
from apps.gateways.models import Gateway, GatewayCall
from apps.hardware import services as hardware
from apps.hardware.details import boot_dict
from apps.hardware.drivers.base import BootDevice
from apps.hardware.models import BmcFacts, PowerAction
from apps.hardware.protocols import endpoint_for
from apps.sites.models import Node

logger = logging.getLogger(__name__)
OFFLINE = "gateway_offline"


def power_dispatch(action: PowerAction, gateway: Gateway) -> PowerAction:
    """Sends ``action`` (locked by the caller's transaction) to ``gateway`` on commit."""
    if GatewayCall.objects.filter(action=action, status=GatewayCall.Status.SENT).exists():
        return action  # a redelivered central task: the gateway has it, its answer will come
    try:
        endpoint = endpoint_for(action.node)
    except CredentialError as error:
        return hardware.power_finish(
            action, status=PowerAction.Status.FAILED, cause="bad_credentials", error=str(error)
        )
    now = timezone.now()
    deadline = now + timedelta(seconds=settings.GATEWAY_POWER_DEADLINE)
    margin = min(settings.GATEWAY_START_MARGIN, settings.GATEWAY_POWER_DEADLINE / 2)
    call = GatewayCall.objects.create(
        gateway=gateway,
        kind="power",
        action=action,
        sent_at=now,
        start_by=deadline - timedelta(seconds=margin),
        deadline=deadline,
    )
    call_id = str(call.pk)
    message = {
        "call_id": call_id,
        "gateway": gateway.name,
        "kind": action.kind,
        "params": action.params,
        "start_by": call.start_by.timestamp(),
        "sealed": services.seal_for(
            gateway, call_id, {"endpoint": services.endpoint_plain(endpoint)}
        ),
    }
    action.status = PowerAction.Status.RUNNING
    action.started_at = action.started_at or now
    action.attempts += 1
    action.sent_at = now
    action.save(update_fields=["status", "started_at", "attempts", "sent_at"])
    hardware.power_push(action)
    transaction.on_commit(lambda: _send(action.pk, gateway.name, call, message))
    return action


def _send(action_id: int, gateway: str, call: GatewayCall, message: dict[str, Any]) -> None:
    try:
        dispatch.gateway_send(gateway, wire.POWER_TASK, message, expires=call.start_by)
        dispatch.deadline_send(str(call.pk), eta=call.deadline + timedelta(seconds=1))
    except Exception as error:
        logger.exception("power action %s could not be sent to gateway %s", action_id, gateway)
        with transaction.atomic():
            GatewayCall.objects.filter(pk=call.pk).update(status=GatewayCall.Status.EXPIRED)
            action = _locked_action(action_id)
            if action.is_active:
                hardware.power_finish(
                    action,
                    status=PowerAction.Status.FAILED,
                    cause="queue",
                    error=f"The gateway's queue is unavailable; nothing was sent ({error}).",
                )


def _locked_action(action_id: int) -> PowerAction:
    return (
        PowerAction.objects.select_for_update(of=("self",))
        .select_related("node", "node__site", "batch")
        .get(pk=action_id)
    )


def _message(action: PowerAction, answer: dict[str, Any]) -> tuple[str, str]:
    """(result text, state after) of a successful answer, worded as `power_execute` does."""
    state = answer.get("state") or ""
    label = action.get_kind_display()
    if answer.get("boot"):
        boot = answer["boot"]
        once = " (persistent)" if boot.get("persistent") else " (once)"
        return f"Next boot from {boot['device']}{once}", ""
    if answer.get("confirmed"):
        return f"The node is {state} (confirmed after a retry).", state
    if not answer.get("changed"):
        return f"Already {answer.get('outcome_state')}: nothing was sent.", state
    if not state:
        return f"{label} sent; the state could not be read back.", ""
    reached = (action.kind == "on" and state == "on") or (
        action.kind in ("off", "soft") and state == "off"
    )
    if reached or action.kind in hardware.NOT_REPEATABLE:
        return f"{label} sent; the node is now {state}.", state
    return f"{label} sent; the node is still {state} for now.", state


def power_answer(gateway: Gateway, call_id: str, answer: dict[str, Any]) -> str:
    """The gateway's (verified) answer to a power call: finishes the action, unless the
    deadline already did (then only audited, and the state it reports kept)."""
    with transaction.atomic():
        call = (
            GatewayCall.objects.select_for_update()
            .filter(pk=call_id, gateway=gateway, kind="power")
            .first()
        )
        if call is None:
            audit_record(
                actor=None,
                action="gateway.answer",
                target=gateway,
                result=AuditEvent.Result.REFUSED,
                detail={"call_id": call_id, "reason": "not a call sent to this gateway"},
            )
            return "refused"
        if call.answered_at is not None:
            return "duplicate"
        call.answered_at = timezone.now()
        late = call.status == GatewayCall.Status.EXPIRED
        if not late:
            call.status = GatewayCall.Status.ANSWERED
        call.save(update_fields=["status", "answered_at"])
        action = _locked_action(call.action_id)
        if late or not action.is_active:
            state = answer.get("state")
            if state in Node.PowerState.values:
                Node.objects.filter(pk=action.node_id).update(power_state=state)
            audit_record(
                actor=None,
                action="gateway.late_answer",
                target=action.node,
                result=AuditEvent.Result.OK if answer.get("ok") else AuditEvent.Result.FAILED,
                detail={"action_id": action.pk, "gateway": gateway.name, "answer": answer},
            )
            return "late"
        if answer.get("ok"):
            if answer.get("boot"):
                BmcFacts.objects.update_or_create(
                    node=action.node,
                    defaults={"boot_device": boot_dict(BootDevice(**answer["boot"]))},
                )
            result, state = _message(action, answer)
            hardware.power_finish(
                action, status=PowerAction.Status.SUCCEEDED, result=result, state_after=state
            )
        else:
            hardware.power_finish(
                action,
                status=PowerAction.Status.FAILED,
                cause=str(answer.get("cause") or "gateway")[:32],
                error=str(answer.get("error") or ""),
                state_after=answer.get("state") or "",
            )
        return "finished"


def call_expire(call_id: str, *, now: datetime | None = None) -> bool:
    """Fails the call's action with "site gateway offline" once its deadline passed without an
    answer. The gateway never starts it after its start-by time, which is earlier."""
    now = now or timezone.now()
    with transaction.atomic():
        call = (
            GatewayCall.objects.select_for_update()
            .select_related("gateway")
            .filter(pk=call_id, status=GatewayCall.Status.SENT, deadline__lte=now)
            .first()
        )
        if call is None:
            return False
        call.status = GatewayCall.Status.EXPIRED
        call.save(update_fields=["status"])
        if call.kind.startswith("tpm_"):
            from apps.gateways import quotes

            quotes.call_expired(call)
        if call.kind.startswith("fw_"):  # its firmware update fails at its next step
            from apps.gateways import firmware

            firmware.call_closed(call)
        if call.action_id is None:
            return True
        action = _locked_action(call.action_id)
        if action.is_active:
            hardware.power_finish(
                action,
                status=PowerAction.Status.FAILED,
                cause=OFFLINE,
                error=f"site gateway offline: {call.gateway.name} did not answer by the "
                f"deadline ({call.deadline:%Y-%m-%d %H:%M:%S} UTC) and will not send the "
                "action later.",
            )
    return True


def calls_of_revoked(gateway: Gateway) -> int:
    """Ends the revoked gateway's unanswered calls now (their answers will be refused)."""
    ended = 0
    for pk in GatewayCall.objects.filter(
        gateway=gateway, status=GatewayCall.Status.SENT
    ).values_list("pk", flat=True):
        with transaction.atomic():
            call = GatewayCall.objects.select_for_update().get(pk=pk)
            if call.status != GatewayCall.Status.SENT:
                continue
            call.status = GatewayCall.Status.EXPIRED
            call.save(update_fields=["status"])
            ended += 1
            if call.kind.startswith("tpm_"):
                from apps.gateways import quotes

                reason = f"the site gateway {gateway.name} was revoked before it answered"
                quotes.call_ended(call, "gateway_revoked", reason)
            if call.kind.startswith("fw_"):
                from apps.gateways import firmware

                call.detail = {**call.detail, "ended": "revoked"}
                call.save(update_fields=["detail"])
                firmware.call_closed(call)
            if call.action_id is None:
                continue
            action = _locked_action(call.action_id)
            if action.is_active:
                hardware.power_finish(
                    action,
                    status=PowerAction.Status.FAILED,
                    cause="gateway_revoked",
                    error=f"The site gateway {gateway.name} was revoked while this action was "
                    "with it: it may or may not have reached the BMC; check the node's state.",
                )
    return ended


def calls_expire(*, now: datetime | None = None) -> int:
    """Every call past its deadline without an answer (the beat's backstop to the timers)."""
    now = now or timezone.now()
    ids = GatewayCall.objects.filter(status=GatewayCall.Status.SENT, deadline__lte=now)
    return sum(call_expire(str(pk), now=now) for pk in ids.values_list("pk", flat=True))
