"""The firmware update state machine: one step per call, every state in the database.

`firmware_update_advance` is what the task calls, and calls again after the delay it returns.
Each step looks at the update's state, does at most one thing on the BMC, records what came of
it and says when to look again. A worker killed at any point leaves the row as it was before or
after that one thing, and the resume sweep (`firmware_updates_resume`) hands quiet updates to a
worker again. Two rules for a step run twice (a redelivered task, the sweep racing a live
chain) are written where they apply: an image that may have reached the BMC is not sent again,
and the reset is requested once, under the row lock, its power action stored with the request.

BMC task monitors are lossy (see `apps.hardware.drivers.redfish.update`): a task that is gone,
or a BMC silent for ``FIRMWARE_LOST_MINUTES``, is not a failure: the version read back decides.

For a node whose site has a gateway, the BMC calls go through it (`apps.gateways.firmware`): a
step asks, stops (`GatewayPending`), and runs again with the answer; the decisions stay here.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.crypto import CredentialError
from apps.core.realtime import broadcast
from apps.firmware.image_urls import image_url_build
from apps.firmware.models import FirmwareUpdate
from apps.gateways import firmware as via_gateway
from apps.hardware.drivers.base import BmcDriver, BmcError, TaskRef, TaskStatus, driver_for
from apps.hardware.models import PowerAction
from apps.hardware.protocols import endpoint_for
from apps.hardware.services import PowerConflict, power_request

logger = logging.getLogger(__name__)

State = FirmwareUpdate.State
START_ATTEMPTS = 3  # sends refused because the BMC was unreachable (nothing reached it)
DEFAULT_POLL = 10.0  # seconds, when the BMC gives no Retry-After
APPLY_WAIT = 5.0  # seconds between looks at the reset's power action
VERIFY_WAIT = 10.0
SEND_BOUND = timedelta(minutes=10)  # twice the longest upload the Redfish adapter waits for


@dataclasses.dataclass(frozen=True)
class Step:
    """What one step did: ``retry_in`` seconds when the task should look again (None: done,
    or another worker holds the update)."""

    update: FirmwareUpdate | None
    retry_in: float | None = None


def _driver(update: FirmwareUpdate) -> BmcDriver | via_gateway.GatewayBmc:
    port = via_gateway.port_for(update)  # a gateway site's node: its gateway calls the BMC
    if port is not None:
        return port
    return driver_for(endpoint_for(update.node, "redfish"), timeout=settings.BMC_TIMEOUT)


def _minutes(value: float) -> str:
    return f"{value:g} min"


def _locked(update_id: int) -> FirmwareUpdate:
    return (
        FirmwareUpdate.objects.select_for_update(of=("self",))
        .select_related("node", "node__site", "image", "requested_by", "power_action")
        .get(pk=update_id)
    )


def _save(update: FirmwareUpdate, now: datetime, **fields: Any) -> FirmwareUpdate:
    """Records ``fields`` (and the activity) on an update; a state change is audited."""
    before, percent = update.state, update.percent
    if "lost_since" not in fields and update.lost_since is not None:
        # Only `_bmc_error` and `_poll` keep it: any other save follows a step that worked.
        fields["lost_since"] = None
    for name, value in fields.items():
        setattr(update, name, value)
    update.activity_at = now
    update.save(update_fields=[*fields, "activity_at"])
    if update.state != before:
        _audit_transition(update, before)
    if update.state != before or update.percent != percent:
        firmware_update_announce(update)
    return update


def firmware_update_announce(update: FirmwareUpdate) -> None:
    """Tells the site's hardware pages (node page panel) on commit: state and progress."""
    broadcast(
        f"site.{update.node.site_id}.hardware",
        {
            "type": "node.firmware_update",
            "node_id": update.node_id,
            "update_id": update.pk,
            "state": update.state,
            "percent": update.percent,
            "reason": update.reason,
        },
    )


def _audit_transition(update: FirmwareUpdate, before: str) -> None:
    """The audit record of one transition (the requester as actor: the update acts for them)."""
    result = {
        State.SUCCEEDED: AuditEvent.Result.OK,
        State.FAILED: AuditEvent.Result.FAILED,
    }.get(update.state, AuditEvent.Result.PENDING)
    audit_record(
        actor=update.requested_by,
        action="firmware.update",
        target=update.node,
        result=result,
        detail={
            "update_id": update.pk,
            "from": before,
            "to": update.state,
            "component": update.image.component,
            "target_version": update.target_version,
            "version_read_back": update.version_read_back,
            "power_action_id": update.power_action_id,
            "cause": update.cause,
            "reason": update.reason,
        },
    )


def _transition(update_id: int, expected: str, now: datetime, **fields: Any) -> FirmwareUpdate:
    """Applies ``fields`` if the update is still in ``expected`` (another worker may have moved
    it while this one talked to the BMC); the update as it is now, either way."""
    with transaction.atomic():
        update = _locked(update_id)
        if update.state != expected:
            return update
        return _save(update, now, **fields)


def _fail(update_id: int, expected: str, now: datetime, cause: str, reason: str) -> Step:
    return Step(
        _transition(
            update_id,
            expected,
            now,
            state=State.FAILED,
            cause=cause,
            reason=reason[:500],
            finished_at=now,
        )
    )


def _succeed(update_id: int, expected: str, now: datetime, version: str, note: str) -> Step:
    return Step(
        _transition(
            update_id,
            expected,
            now,
            state=State.SUCCEEDED,
            version_read_back=version,
            reason=note[:500],
            cause="",
            finished_at=now,
        )
    )


def _bounded(seconds: float | None) -> float:
    wanted = DEFAULT_POLL if seconds is None else seconds
    return min(max(wanted, 1.0), settings.FIRMWARE_POLL_MAX)


def _read_version(update: FirmwareUpdate) -> str | None:
    """The running version of the update's component; None when the BMC reports none."""
    component = update.image.component.lower()
    found = _driver(update).firmware()
    for item in found:
        if str(getattr(item, "id", "") or "").lower() == component:
            return item.version
    for item in found:
        if item.component.lower() == component:
            return item.version
    return None


def firmware_update_advance(update_id: int, *, now: datetime | None = None) -> Step:
    """Moves one update one step (see the module docstring). Called by the task only."""
    now = now or timezone.now()
    update = (
        FirmwareUpdate.objects.select_related("node", "node__site", "image", "requested_by")
        .filter(pk=update_id)
        .first()
    )
    if update is None or not update.is_active:
        return Step(update)
    handlers = {
        State.PENDING: _start,
        State.STAGING: _interrupted_send,
        State.RUNNING: _poll,
        State.APPLYING: _apply,
        State.VERIFYING: _verify,
    }
    started = timezone.now()
    try:
        step = handlers[update.state](update, now)
    except via_gateway.GatewayPending:
        # the gateway's answer, or its deadline, brings the next step (not the resume sweep)
        FirmwareUpdate.objects.filter(pk=update_id).update(activity_at=now)
        return Step(update)
    except (BmcError, CredentialError) as error:
        step = _bmc_error(update, now, error)
    except Exception as error:
        # A bug or a broken reply must not leave the update "running" for ever.
        logger.exception("firmware update %s failed unexpectedly", update_id)
        step = _fail(
            update_id,
            update.state,
            now,
            "internal",
            f"Heatsite failed while {update.get_state_display().lower()} "
            f"({type(error).__name__}); check the node before retrying.",
        )
    via_gateway.step_done(f"update:{update_id}", started)  # its gateway answers are spent
    return step


def _bmc_error(update: FirmwareUpdate, now: datetime, error: Exception) -> Step:
    """A BMC error outside the polling rules: retry a transient one (the BMC may be rebooting)
    until ``FIRMWARE_LOST_MINUTES``, fail on anything else with the BMC's words."""
    cause = getattr(error, "cause", "bad_credentials")
    message = getattr(error, "message", str(error))
    if getattr(error, "transient", False):
        lost_since = update.lost_since or now
        bound = timedelta(minutes=settings.FIRMWARE_LOST_MINUTES)
        if now - lost_since < bound:
            _transition(update.pk, update.state, now, lost_since=lost_since)
            return Step(update, retry_in=_bounded(DEFAULT_POLL))
        message = (
            f"The BMC did not answer for {_minutes(settings.FIRMWARE_LOST_MINUTES)}: {message}"
        )
    return _fail(update.pk, update.state, now, cause, message)


# --- pending: read the version, send the image ---------------------------------------------


def _start(update: FirmwareUpdate, now: datetime) -> Step:
    if not update.node.speaks_redfish:
        return _fail(
            update.pk,
            State.PENDING,
            now,
            "not_supported",
            f"{update.node.name}'s BMC does not speak Redfish: firmware updates need its "
            "UpdateService.",
        )
    version = _read_version(update)
    if version is None:
        return _fail(
            update.pk,
            State.PENDING,
            now,
            "not_supported",
            f"The BMC reports no {update.image.component} firmware to update.",
        )
    if version == update.target_version:
        # Nothing to flash: a campaign resumed after a kill never flashes a component twice.
        return _succeed(
            update.pk,
            State.PENDING,
            now,
            version,
            f"Already runs {version}: nothing was sent.",
        )
    # Claim the send: only one worker gets past this line for a given update.
    claimed = FirmwareUpdate.objects.filter(pk=update.pk, state=State.PENDING).update(
        state=State.STAGING, sent_at=now, previous_version=version, activity_at=now
    )
    if not claimed:
        return Step(update)
    update.refresh_from_db()
    _audit_transition(update, State.PENDING)
    firmware_update_announce(update)
    return _send(update, now)


def _send(update: FirmwareUpdate, now: datetime, driver: Any = None) -> Step:
    # Redfish ``Targets``: the component's FirmwareInventory member, when the inventory said.
    targets = (update.target_uri,) if update.target_uri else ()
    try:
        driver = driver or _driver(update)
        if isinstance(driver, via_gateway.GatewayBmc):
            ref = driver.firmware_send(targets)  # the gateway sends it (pulled or pushed)
        elif update.method == FirmwareUpdate.Method.PUSH:
            with update.image.file.open("rb") as stored:
                image = stored.read()
            ref = driver.firmware_update_push(image, targets, apply_time=update.apply_time)
        else:
            ref = driver.firmware_update_simple(
                image_url_build(update), targets, apply_time=update.apply_time
            )
    except BmcError as error:
        attempts = update.attempts + 1
        if error.cause == "unreachable" and attempts < START_ATTEMPTS:
            # Nothing reached the BMC: back to the queue, sent again later.
            _transition(
                update.pk, State.STAGING, now, state=State.PENDING, sent_at=None, attempts=attempts
            )
            return Step(update, retry_in=5.0 * attempts)
        FirmwareUpdate.objects.filter(pk=update.pk).update(attempts=attempts)
        return _fail(update.pk, State.STAGING, now, error.cause, error.message)
    running = _transition(
        update.pk,
        State.STAGING,
        now,
        state=State.RUNNING,
        attempts=update.attempts + 1,
        started_at=now,
        task_monitor=ref.monitor[:300],
        task_uri=ref.task[:300],
        percent=0,
        progress_at=now,
    )
    return Step(running, retry_in=_bounded(None))


def _interrupted_send(update: FirmwareUpdate, now: datetime) -> Step:
    """Found sending: the worker died after the image may have reached the BMC. Sending it
    again could start a second task on the BMC; the engineer decides instead. (An upload may
    take minutes: a send younger than ``SEND_BOUND`` may still be alive in another worker.)"""
    port = via_gateway.send_port(update)
    if port is not None:  # a site gateway has the send: its answer decides
        return _send(update, now, port)
    if update.sent_at is not None and now - update.sent_at < SEND_BOUND:
        return Step(update, retry_in=_bounded(settings.FIRMWARE_POLL_MAX))
    return _fail(
        update.pk,
        State.STAGING,
        now,
        "interrupted",
        "The worker stopped while the image was being sent; it was not sent again (the BMC may "
        "hold a task for it). Check the node's firmware and request the update again.",
    )


# --- running: follow the BMC's task --------------------------------------------------------


def _poll(update: FirmwareUpdate, now: datetime) -> Step:
    ref = TaskRef(monitor=update.task_monitor, task=update.task_uri)
    try:
        seen = _driver(update).task_status(ref)
    except BmcError as error:
        if not error.transient:
            raise
        # Silent BMC (rebooting?): wait, then let the version decide.
        lost_since = update.lost_since or now
        if now - lost_since < timedelta(minutes=settings.FIRMWARE_LOST_MINUTES):
            _transition(update.pk, State.RUNNING, now, lost_since=lost_since, last_polled_at=now)
            return Step(update, retry_in=_bounded(DEFAULT_POLL))
        seen = TaskStatus(
            state="gone",
            message=f"The BMC did not answer for {_minutes(settings.FIRMWARE_LOST_MINUTES)}.",
        )
    polled = {
        "last_polled_at": now,
        "lost_since": None,
        "task_state": seen.bmc_state[:32] or update.task_state,
        "task_status": seen.bmc_status[:16] or update.task_status,
        "task_message": (seen.message or update.task_message)[:500],
    }
    if seen.state == "running":
        return _running(update, now, seen, polled)
    if seen.state == "failed":
        _transition(update.pk, State.RUNNING, now, **polled)
        words = seen.message or f"the task ended in {seen.bmc_state or 'failure'}"
        return _fail(update.pk, State.RUNNING, now, "bmc_task", f"The BMC's task failed: {words}")
    if seen.state == "completed":
        polled["task_completed"] = True
        polled["percent"] = 100
    else:  # gone: completed and forgotten, or lost in a BMC reboot; the version decides
        version = _read_version(update)
        if version == update.target_version:
            _transition(update.pk, State.RUNNING, now, **polled)
            return _succeed(
                update.pk,
                State.RUNNING,
                now,
                version,
                f"The BMC forgot its task; the node runs {version}.",
            )
    return _after_task(update, now, polled)


def _running(update: FirmwareUpdate, now: datetime, seen: TaskStatus, polled: dict) -> Step:
    percent = seen.percent if seen.percent is not None else update.percent
    moved = percent != update.percent or update.progress_at is None
    progress_at = now if moved else update.progress_at
    bound = timedelta(minutes=settings.FIRMWARE_STUCK_MINUTES)
    if not moved and progress_at is not None and now - progress_at >= bound:
        at = f"{percent} %" if percent is not None else "an unknown percentage"
        _transition(update.pk, State.RUNNING, now, **polled)
        return _fail(
            update.pk,
            State.RUNNING,
            now,
            "stuck",
            f"Stuck at {at}: no progress for {_minutes(settings.FIRMWARE_STUCK_MINUTES)} "
            f"(the BMC still says {seen.bmc_state or 'running'}).",
        )
    updated = _transition(
        update.pk, State.RUNNING, now, percent=percent, progress_at=progress_at, **polled
    )
    return Step(updated, retry_in=_bounded(seen.retry_after))


def _after_task(update: FirmwareUpdate, now: datetime, polled: dict) -> Step:
    if update.apply_time == FirmwareUpdate.ApplyTime.ON_RESET and update.defer_reset:
        # staged: the caller resets the node once for all its components, then settles it
        moved = _transition(
            update.pk,
            State.RUNNING,
            now,
            state=State.STAGED,
            reason="Staged: applied by the node's next reset.",
            **polled,
        )
        return Step(moved)
    if update.apply_time == FirmwareUpdate.ApplyTime.ON_RESET:
        moved = _transition(update.pk, State.RUNNING, now, state=State.APPLYING, **polled)
        return Step(moved, retry_in=0.0)
    moved = _transition(
        update.pk, State.RUNNING, now, state=State.VERIFYING, applied_at=now, **polled
    )
    return Step(moved, retry_in=0.0)


# --- applying: one reset, through the power-action machinery -------------------------------


def _apply(update: FirmwareUpdate, now: datetime) -> Step:
    if update.reset_requested_at is None:
        return _request_reset(update, now)
    action = (
        PowerAction.objects.filter(pk=update.power_action_id).first()
        if update.power_action_id
        else None
    )
    if action is None:
        return _fail(
            update.pk,
            State.APPLYING,
            now,
            "reset_failed",
            "The reset's power action is gone; the node was not reset again.",
        )
    if action.is_active:
        _transition(update.pk, State.APPLYING, now)
        return Step(update, retry_in=APPLY_WAIT)
    if action.status == PowerAction.Status.FAILED:
        return _fail(
            update.pk,
            State.APPLYING,
            now,
            "reset_failed",
            f"The reset failed: {action.error or action.error_cause or 'no reason given'}",
        )
    moved = _transition(
        update.pk,
        State.APPLYING,
        now,
        state=State.VERIFYING,
        applied_at=now,  # the read-back grace runs from here, on the steps' own clock
    )
    return Step(moved, retry_in=0.0)


def _request_reset(update: FirmwareUpdate, now: datetime) -> Step:
    # A node that is off boots into the new firmware; one that is on is reset.
    kind = PowerAction.Kind.RESET
    if _driver(update).power_state().state == "off":
        kind = PowerAction.Kind.ON
    with transaction.atomic():
        locked = _locked(update.pk)
        if locked.state != State.APPLYING or locked.reset_requested_at is not None:
            return Step(locked, retry_in=APPLY_WAIT if locked.is_active else None)
        if locked.node.power_actions.filter(status__in=PowerAction.ACTIVE).exists():
            # Another power action is in flight on the node: wait for it (asking now would
            # only be refused, and audited as such, every few seconds).
            _save(locked, now)
            return Step(locked, retry_in=APPLY_WAIT)
        try:
            action = power_request(actor=locked.requested_by, node=locked.node, kind=kind)
        except PowerConflict:
            # One appeared since the look above: wait for it, then ask again.
            _save(locked, now)
            return Step(locked, retry_in=APPLY_WAIT)
        except PermissionDenied as refused:
            return Step(
                _save(
                    locked,
                    now,
                    state=State.FAILED,
                    cause="refused",
                    reason=f"The reset was refused: {refused}",
                    finished_at=now,
                )
            )
        _save(locked, now, power_action=action, reset_requested_at=now)
        audit_record(
            actor=locked.requested_by,
            action="firmware.update.reset",
            target=locked.node,
            result=AuditEvent.Result.PENDING,
            detail={"update_id": locked.pk, "power_action_id": action.pk, "kind": kind},
        )
    return Step(locked, retry_in=APPLY_WAIT)


# --- verifying: the version read back decides ----------------------------------------------


def _verify(update: FirmwareUpdate, now: datetime) -> Step:
    version = _read_version(update)
    if version == update.target_version:
        was = update.previous_version or "unknown"
        return _succeed(
            update.pk, State.VERIFYING, now, version, f"Now runs {version} (was {was})."
        )
    since = update.applied_at or now
    if now - since < timedelta(minutes=settings.FIRMWARE_VERIFY_MINUTES):
        # A BMC may report the old version until the host has booted: look again.
        _transition(update.pk, State.VERIFYING, now, version_read_back=version or "")
        return Step(update, retry_in=VERIFY_WAIT)
    running = version or "no version"
    if update.task_completed:
        reason = (
            f"The BMC reported success but still runs {running} (expected {update.target_version})."
        )
        cause = "version_unchanged"
    else:
        reason = (
            f"The BMC lost track of the update and still runs {running} "
            f"(expected {update.target_version})."
        )
        cause = "not_applied"
    _transition(update.pk, State.VERIFYING, now, version_read_back=version or "")
    return _fail(update.pk, State.VERIFYING, now, cause, reason)


# --- staged: settled by whoever owned the reset ----------------------------------------------


def firmware_update_settle(
    update_id: int, *, now: datetime, version: str | None, failure: str = ""
) -> FirmwareUpdate:
    """A staged update once its owner's reset is over: succeeded when ``version`` (read back)
    is its target, failed otherwise (``failure`` says why when the owner gave up earlier)."""
    with transaction.atomic():
        update = _locked(update_id)
        if update.state != State.STAGED:
            return update
        if not failure and version == update.target_version:
            was = update.previous_version or "unknown"
            return _save(
                update,
                now,
                state=State.SUCCEEDED,
                version_read_back=version,
                applied_at=now,
                reason=f"Now runs {version} (was {was}), applied by the node's reset."[:500],
                cause="",
                finished_at=now,
            )
        running = version or "no version"
        reason = failure or (
            f"Staged, but after the node's reset it still runs {running} "
            f"(expected {update.target_version})."
        )
        return _save(
            update,
            now,
            state=State.FAILED,
            version_read_back=version or "",
            cause="not_applied",
            reason=reason[:500],
            finished_at=now,
        )


# --- the resume sweep ----------------------------------------------------------------------


def firmware_updates_resume(*, now: datetime | None = None) -> list[int]:
    """Ids of active updates no worker has touched for ``FIRMWARE_RESUME_AFTER`` seconds (a
    killed worker, a lost message): the beat task hands each to a worker again."""
    now = now or timezone.now()
    quiet = now - timedelta(seconds=settings.FIRMWARE_RESUME_AFTER)
    return list(
        FirmwareUpdate.objects.filter(state__in=FirmwareUpdate.ACTIVE)
        .filter(Q(activity_at__lt=quiet) | Q(activity_at__isnull=True, requested_at__lt=quiet))
        .order_by("id")
        .values_list("id", flat=True)
    )
