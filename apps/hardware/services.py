"""Power actions and BMC polling: the only code that turns requests into driver calls.

A request creates a PowerAction in a transaction (the partial unique index refuses a second
action in flight on the same node) and enqueues the task on commit. The task calls
`power_execute`, which owns the state machine: transient BMC errors are retried (bounded, the
state re-read after each attempt), fatal ones are not; a redelivered task never repeats a
reset or cycle that may already have reached the BMC.
"""

from __future__ import annotations

import logging
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.crypto import CredentialError
from apps.core.realtime import broadcast
from apps.hardware import certificates, protocols, reach
from apps.hardware.details import boot_dict
from apps.hardware.drivers.base import BmcError, BootDevice, driver_for
from apps.hardware.electrical import (
    ElectricalSums,
    PowerSample,
    electrical_daily_merge,
    electrical_max_gap_s,
    electrical_pieces,
)
from apps.hardware.models import BmcFacts, NodeTelemetry, PowerAction, PowerBatch
from apps.hardware.protocols import endpoint_for
from apps.sites.models import Node, Site

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
NOT_REPEATABLE = (PowerAction.Kind.RESET, PowerAction.Kind.CYCLE)


class PowerConflict(Exception):
    """Another action is already queued or running on the node."""


@dataclass(frozen=True)
class Attempt:
    """What `power_execute` did: `retry_in` seconds when the task should try again."""

    action: PowerAction
    retry_in: float | None = None


def _enqueue(action_id: int) -> bool:
    """Hands the action to the queue once (claims it first); False if already handed over."""
    claimed = PowerAction.objects.filter(pk=action_id, enqueued_at__isnull=True).update(
        enqueued_at=timezone.now()
    )
    if claimed:
        transaction.on_commit(lambda: _send(action_id))
    return bool(claimed)


def _send(action_id: int) -> None:
    from apps.hardware.tasks import power_execute_task

    try:
        power_execute_task.delay(action_id)
    except Exception as error:
        # Without this the action would stay queued forever and block its node.
        logger.exception("power action %s could not be queued", action_id)
        action = PowerAction.objects.select_related("node", "batch").get(pk=action_id)
        _finish(
            action,
            status=PowerAction.Status.FAILED,
            cause="queue",
            error=f"The task queue is unavailable; nothing was sent to the BMC ({error}).",
        )


def _event(action: PowerAction) -> dict[str, Any]:
    return {
        "type": "node.power_action",
        "action_id": action.pk,
        "node_id": action.node_id,
        "kind": action.kind,
        "status": action.status,
        "result": action.result,
        "error": action.error,
        "batch_id": action.batch_id,
    }


def _push(action: PowerAction) -> None:
    site_id = action.node.site_id
    broadcast(f"site.{site_id}.hardware", _event(action))


def power_push(action: PowerAction) -> None:
    """The action's state to the site's engineers (on commit); for the gateway path."""
    _push(action)


def _create_action(*, actor: Any, node: Node, kind: str, params: dict, batch=None) -> PowerAction:
    try:
        with transaction.atomic():
            action = PowerAction.objects.create(
                node=node, kind=kind, params=params, requested_by=actor, batch=batch
            )
    except IntegrityError:
        active = node.power_actions.filter(status__in=PowerAction.ACTIVE).first()
        what = active.get_kind_display().lower() if active else "another action"
        raise PowerConflict(
            f"{node.name} already has an action in progress ({what}); wait for it to finish."
        ) from None
    return action


def power_request(*, actor: Any, node: Node, kind: str, params: dict | None = None) -> PowerAction:
    """Queues one power or boot-device action on a node (engineers only)."""
    access.require(actor, Action.POWER_CONTROL)
    if kind not in PowerAction.Kind.values:
        raise ValueError(f"Unknown action {kind!r}.")
    params = params or {}
    if kind == PowerAction.Kind.BOOT_DEVICE:
        BootDevice(**params)  # validates the device name before anything is stored
    try:
        with transaction.atomic():
            action = _create_action(actor=actor, node=node, kind=kind, params=params)
            _request_recorded(actor=actor, node=node, kind=kind, params=params, action=action)
    except PowerConflict as conflict:
        # written after the rollback, or the refusal would vanish with the request
        audit_record(
            actor=actor,
            action=f"power.{kind}",
            target=node,
            result=AuditEvent.Result.REFUSED,
            detail={"reason": str(conflict)},
        )
        raise
    return action


def _request_recorded(
    *, actor: Any, node: Node, kind: str, params: dict, action: PowerAction
) -> None:
    audit_record(
        actor=actor,
        action=f"power.{kind}",
        target=node,
        result=AuditEvent.Result.PENDING,
        detail={"action_id": action.pk, **params},
    )
    _push(action)
    _enqueue(action.pk)


def bulk_power_request(
    *, actor: Any, site: Site, kind: str, nodes: list[Node], concurrency: int = 2
) -> tuple[PowerBatch, list[str]]:
    """Queues `kind` on several nodes of one site, at most `concurrency` at a time.

    Nodes with an action already in flight are skipped and named in the returned list.
    """
    access.require(actor, Action.POWER_CONTROL)
    if kind not in PowerAction.Kind.values or kind == PowerAction.Kind.BOOT_DEVICE:
        raise ValueError(f"Unknown bulk action {kind!r}.")
    if not 1 <= concurrency <= 16:
        raise ValueError("Concurrency must be between 1 and 16.")
    if any(node.site_id != site.pk for node in nodes):
        raise ValueError("Every node of a bulk action must belong to the site.")
    skipped: list[str] = []
    with transaction.atomic():
        batch = PowerBatch.objects.create(
            site=site, action=kind, requested_by=actor, concurrency=concurrency
        )
        actions = []
        for node in nodes:
            try:
                actions.append(
                    _create_action(actor=actor, node=node, kind=kind, params={}, batch=batch)
                )
            except PowerConflict as conflict:
                skipped.append(str(conflict))
                audit_record(
                    actor=actor,
                    action=f"power.{kind}",
                    target=node,
                    result=AuditEvent.Result.REFUSED,
                    detail={"reason": str(conflict), "batch_id": batch.pk},
                )
        audit_record(
            actor=actor,
            action=f"power.bulk.{kind}",
            target=site,
            result=AuditEvent.Result.PENDING,
            detail={"batch_id": batch.pk, "nodes": len(actions), "skipped": len(skipped)},
        )
        for action in actions[:concurrency]:
            _enqueue(action.pk)
    return batch, skipped


def _next_in_batch(action: PowerAction) -> None:
    """Rolling: when one action of a batch ends, hand the next held-back ones to the queue."""
    if action.batch_id is None:
        return
    with transaction.atomic():
        # Two actions of the batch may end at once in two workers: the batch row lock makes
        # them count and claim one after the other, so the limit holds.
        batch = PowerBatch.objects.select_for_update().get(pk=action.batch_id)
        batch_actions = PowerAction.objects.filter(batch_id=batch.pk)
        in_flight = batch_actions.filter(
            status__in=PowerAction.ACTIVE, enqueued_at__isnull=False
        ).count()
        free = batch.concurrency - in_flight
        held = batch_actions.filter(enqueued_at__isnull=True).order_by("id")
        for pk in held.values_list("pk", flat=True)[: max(free, 0)]:
            _enqueue(pk)


def _finish(
    action: PowerAction,
    *,
    status: str,
    result: str = "",
    cause: str = "",
    error: str = "",
    state_after: str = "",
) -> PowerAction:
    # One transaction: the action's outcome, its audit record, the node's state and the next
    # action of a batch are seen together or not at all.
    with transaction.atomic():
        action.status = status
        action.result = result[:300]
        action.error_cause = cause
        action.error = error[:500]
        action.state_after = state_after
        action.finished_at = timezone.now()
        action.save(
            update_fields=["status", "result", "error_cause", "error", "state_after", "finished_at"]
        )
        audit_record(
            actor=action.requested_by,
            action=f"power.{action.kind}",
            target=action.node,
            result=AuditEvent.Result.OK
            if status == PowerAction.Status.SUCCEEDED
            else AuditEvent.Result.FAILED,
            detail={"action_id": action.pk, "result": result, "error": error, "cause": cause},
        )
        if state_after in Node.PowerState.values:
            Node.objects.filter(pk=action.node_id).update(power_state=state_after)
        _push(action)
        _next_in_batch(action)
    return action


def power_finish(action: PowerAction, **outcome: str) -> PowerAction:
    """Ends an action (outcome, audit record, node state, next of its batch) in one
    transaction; for the gateway path (apps.gateways.power), which owns the row lock."""
    return _finish(action, **outcome)


def power_execute(action_id: int, *, worker: str = "") -> Attempt:
    """Runs (or re-runs, or refuses to repeat) one queued action. Called by the task only.

    An action found RUNNING was started by a worker that died before finishing it (retries put
    it back to PENDING): on/off/soft/boot device are safe to run again (the driver does nothing
    when the node is already there); reset and cycle are not, and are failed instead.
    """
    with transaction.atomic():
        action = (
            # Lock the action row only: PostgreSQL refuses FOR UPDATE on an outer join (batch).
            PowerAction.objects.select_for_update(of=("self",))
            .select_related("node", "node__site", "batch")
            .get(pk=action_id)
        )
        if not action.is_active:
            return Attempt(action)  # already finished: a duplicate delivery does nothing
        from apps.gateways import power as gateway_power
        from apps.gateways.services import gateway_for_site

        gateway = gateway_for_site(action.node.site_id)
        if gateway is not None:
            # The site's hardware is reached through its gateway: the BMC call runs there and
            # its answer, or its deadline, finishes the action (apps.gateways.power).
            return Attempt(gateway_power.power_dispatch(action, gateway))
        interrupted = action.status == PowerAction.Status.RUNNING
        if interrupted and action.kind in NOT_REPEATABLE:
            # The worker died after the command may have reached the BMC: never reset twice.
            return Attempt(
                _finish(
                    action,
                    status=PowerAction.Status.FAILED,
                    cause="interrupted",
                    error="The worker stopped while this action was being sent. It was not "
                    "repeated (a second reset would interrupt the boot); check the node's state.",
                )
            )
        action.status = PowerAction.Status.RUNNING
        action.started_at = action.started_at or timezone.now()
        action.attempts += 1
        action.sent_at = timezone.now()
        action.worker = worker  # whose death hands it back (apps.hardware.recovery)
        action.save(update_fields=["status", "started_at", "attempts", "sent_at", "worker"])
        _push(action)
    node = action.node
    try:
        driver = driver_for(endpoint_for(node), timeout=settings.BMC_TIMEOUT)
        if action.kind == PowerAction.Kind.BOOT_DEVICE:
            boot = driver.set_boot_device(BootDevice(**action.params))
            _facts_update(node, boot_device=boot_dict(boot))
            message = f"Next boot from {boot.device}" + (
                " (persistent)" if boot.persistent else " (once)"
            )
            return Attempt(_finish(action, status=PowerAction.Status.SUCCEEDED, result=message))
        outcome = driver.power(action.kind)
        state = _state_after(driver, action.kind)
        if not outcome.changed:
            message = f"Already {outcome.state}: nothing was sent."
        elif state is None:
            message = f"{action.get_kind_display()} sent; the state could not be read back."
        elif _reached(action.kind, state) or action.kind in NOT_REPEATABLE:
            message = f"{action.get_kind_display()} sent; the node is now {state}."
        else:
            # e.g. a soft shutdown: the OS takes a while; the sweep records the end state
            message = f"{action.get_kind_display()} sent; the node is still {state} for now."
        return Attempt(
            _finish(
                action, status=PowerAction.Status.SUCCEEDED, result=message, state_after=state or ""
            )
        )
    except (BmcError, CredentialError) as error:
        return _failed_attempt(action, node, error)
    except Exception as error:
        # A bug or a broken reply must not leave the action "running" (it would block the node
        # forever): the engineer sees it failed and can retry.
        logger.exception("power action %s failed unexpectedly", action.pk)
        return Attempt(
            _finish(
                action,
                status=PowerAction.Status.FAILED,
                cause="internal",
                error=f"Heatsite failed while sending the action ({type(error).__name__}); "
                "check the node's state before retrying.",
                state_after=_state_after_safe(node) or "",
            )
        )


def _failed_attempt(action: PowerAction, node: Node, error: Exception) -> Attempt:
    """A BMC error: retry transient ones (bounded, re-reading the state), fail the rest."""
    cause = getattr(error, "cause", "bad_credentials")
    transient = getattr(error, "transient", False)
    message = getattr(error, "message", str(error))
    if transient and action.attempts < MAX_ATTEMPTS:
        # Re-read the state: the command may have landed before the error.
        state = _state_after_safe(node)
        if state is not None and _reached(action.kind, state):
            return Attempt(
                _finish(
                    action,
                    status=PowerAction.Status.SUCCEEDED,
                    result=f"The node is {state} (confirmed after a retry).",
                    state_after=state,
                )
            )
        action.status, action.error_cause, action.error = (
            PowerAction.Status.PENDING,
            cause,
            message[:500],
        )
        action.save(update_fields=["status", "error_cause", "error"])
        _push(action)
        return Attempt(action, retry_in=2.0 * action.attempts)
    return Attempt(
        _finish(
            action,
            status=PowerAction.Status.FAILED,
            cause=cause,
            error=message,
            state_after=_state_after_safe(node) or "",
        )
    )


def _reached(kind: str, state: str) -> bool:
    return (kind == "on" and state == "on") or (kind in ("off", "soft") and state == "off")


def _state_after(driver, kind: str) -> str | None:
    try:
        return driver.power_state().state
    except BmcError:
        return None


def _state_after_safe(node: Node) -> str | None:
    if reach.through_gateway(node):
        return None  # a gateway was enrolled meanwhile: its BMC is not contacted from here
    try:
        return driver_for(endpoint_for(node), timeout=settings.BMC_TIMEOUT).power_state().state
    except Exception:  # best effort: the action's own outcome is already decided
        logger.info("node %s: state not readable after the action", node.pk, exc_info=True)
        return None


def _facts_update(node: Node, **fields: Any) -> None:
    BmcFacts.objects.update_or_create(node=node, defaults=fields)


# -- polling ------------------------------------------------------------------------------

_SENSOR_COLUMNS = {
    "cpu_temp_c": ("CPU1 Temp", "CPU2 Temp"),
    "water_in_c": ("Water Inlet",),
    "water_out_c": ("Water Outlet",),
}


def _pick(readings, names) -> float | None:
    values = [r.value for r in readings if r.name in names and r.value is not None]
    return max(values) if values else None


def _sensor_power(readings) -> float | None:
    values = [r.value for r in readings if r.kind == "power" and r.value is not None]
    return max(values) if values else None


_SWEEP_FIELDS = (
    "id",
    "site_id",
    "name",
    "bmc_host",
    "bmc_port",
    "bmc_username",
    "bmc_password_encrypted",
    "bmc_protocol",
    "redfish_port",
    "bmc_protocol_detected",
    "bmc_protocol_probed_at",
    "bmc_tls_fingerprint",
    "bmc_cert_fingerprint",
    "bmc_cert_subject",
    "bmc_cert_not_after",
    "bmc_cert_seen_at",
    "power_state",
    "reachable",
    "power_w",
    "last_seen",
    "nominal_power_w",
)


def sweep_nodes_load(node_ids: list[int]) -> list[Node]:
    """The nodes of a sweep batch with a BMC, only the fields the sweep reads and writes."""
    return list(Node.objects.filter(pk__in=node_ids).exclude(bmc_host="").only(*_SWEEP_FIELDS))


def bmc_sweep_nodes(node_ids: list[int], *, now: datetime | None = None) -> dict[str, int]:
    """Polls power state and sensors of these nodes, stores the latest state, the history and
    the reachability, and pushes what changed. Returns counts for the task's log.

    Nodes of a site with a gateway are polled by it (apps.gateways.polling): their results
    come back later, through `bmc_sweep_store`."""
    from apps.gateways.polling import bmc_poll_send
    from apps.hardware.sweep import sweep

    now = now or timezone.now()
    nodes = bmc_poll_send(sweep_nodes_load(node_ids))
    # `auto` nodes learn whether Redfish answers (and show its certificate)
    protocols.bmc_protocols_detect(
        nodes=[n for n in nodes if protocols.needs_probe(n, now)], now=now
    )
    endpoints, polled = [], []
    for node in nodes:
        try:
            endpoints.append(endpoint_for(node))
            polled.append(node)
        except CredentialError:
            logger.warning("node %s: BMC password cannot be decrypted", node.pk)
    results = sweep(
        endpoints,
        max_concurrency=settings.BMC_SWEEP_CONCURRENCY,
        per_site_limit=settings.BMC_SWEEP_PER_SITE,
        timeout=settings.BMC_TIMEOUT,
        sensors=True,
    )
    return bmc_sweep_store(polled, results, now=now)


def bmc_sweep_store(
    polled: list[Node], results: list, *, now: datetime, observe_certificates: bool = True
) -> dict[str, int]:
    """Stores one sweep's `PollResult` per node (state, history, reachability, facts, energy)
    and pushes what changed. A gateway's results come without certificate observation: the
    gateway, not this process, reaches those BMCs."""
    site_tz = dict(
        Site.objects.filter(pk__in={n.site_id for n in polled}).values_list("id", "timezone")
    )
    seen_nodes, changed_nodes, telemetry, facts = [], [], [], []
    energy = ElectricalSums()
    gap = electrical_max_gap_s()
    counts = {"polled": len(results), "ok": 0, "failed": 0, "skipped": 0}
    for node, result in zip(polled, results, strict=True):
        before = (node.power_state, node.reachable, node.power_w)
        if result.skipped:
            counts["skipped"] += 1
            continue
        if result.ok:
            counts["ok"] += 1
            readings = result.sensors or []
            watts = result.system_power_watts
            if watts is None:
                watts = _sensor_power(readings)
            previous = PowerSample(node.last_seen, node.power_state, node.power_w)
            node.power_state, node.reachable, node.last_seen = result.power_state, True, now
            node.power_w = watts if result.power_state == "on" else 0.0
            energy.add(
                node.site_id,
                electrical_pieces(
                    previous,
                    PowerSample(now, node.power_state, node.power_w),
                    nominal_w=float(node.nominal_power_w),
                    tz=zoneinfo.ZoneInfo(site_tz.get(node.site_id, "UTC")),
                    max_gap_s=gap,
                ),
            )
            telemetry.append(
                NodeTelemetry(
                    node_id=node.pk,
                    at=now,
                    power_state=result.power_state,
                    power_w=node.power_w,
                    **{col: _pick(readings, names) for col, names in _SENSOR_COLUMNS.items()},
                )
            )
            facts.append(
                (
                    node.pk,
                    {
                        "sensors": [
                            {
                                "name": r.name,
                                "kind": r.kind,
                                "value": r.value,
                                "unit": r.unit,
                                "health": r.health,
                            }
                            for r in readings
                        ],
                        "last_error_cause": "",
                        "last_error": "",
                        "backoff_until": None,
                        "features": {"dcmi": result.system_power_watts is not None},
                    },
                )
            )
        else:
            counts["failed"] += 1
            if (
                observe_certificates
                and result.cause in certificates.CERTIFICATE_CAUSES
                and certificates.certificate_observe_due(node, now)
            ):
                # first contact or a changed certificate: record what the BMC presents
                certificates.certificate_observe(node=node, now=now)
            if result.reachable is False:
                node.reachable = False
            facts.append(
                (
                    node.pk,
                    {
                        "last_error_cause": result.cause or "",
                        "last_error": result.message[:500],
                        "backoff_until": result.backoff_until,
                    },
                )
            )
        changed = (node.power_state, node.reachable, node.power_w) != before
        if changed:
            changed_nodes.append(node)
        if result.ok or changed:
            seen_nodes.append(node)  # last_seen moves on every answer; pushes only on change
    with transaction.atomic():
        _rows_update(Node, seen_nodes, ["power_state", "reachable", "last_seen", "power_w"])
        NodeTelemetry.objects.bulk_create(telemetry, batch_size=1000)
        _facts_bulk(facts)
        electrical_daily_merge(energy.rows())
        for node in changed_nodes:
            broadcast(
                f"site.{node.site_id}.hardware",
                {
                    "type": "node.state",
                    "node_id": node.pk,
                    "power_state": node.power_state,
                    "reachable": node.reachable,
                    "power_w": node.power_w,
                    # The poll's time, for the node chart's live point.
                    "at": node.last_seen.isoformat() if node.last_seen else None,
                },
            )
    return counts


def _facts_bulk(rows: list[tuple[int, dict[str, Any]]]) -> None:
    # only what the merge needs is read (no inventory, firmware, BIOS or log blobs for a batch
    # of hundreds of nodes); each row writes only the fields it sets
    wanted = BmcFacts.objects.filter(node_id__in=[pk for pk, _ in rows]).only("node", "features")
    existing = {f.node_id: f for f in wanted}
    create, groups = [], {}
    for node_id, values in rows:
        fact = existing.get(node_id)
        if fact is None:
            create.append(BmcFacts(node_id=node_id, **values))
            continue
        if "features" in values:
            values = {**values, "features": {**fact.features, **values["features"]}}
        for key, value in values.items():
            setattr(fact, key, value)
        groups.setdefault(tuple(sorted(values)), []).append(fact)
    BmcFacts.objects.bulk_create(create, batch_size=500)
    for fields, facts in groups.items():
        _rows_update(BmcFacts, facts, list(fields))


def _rows_update(model, objects: list, fields: list[str]) -> None:
    """``bulk_update`` for a sweep's batch: one parameterised UPDATE per row, sent with
    ``executemany``. Django's ``bulk_update`` builds a CASE per field and row, which took 0.3 s
    of CPU per 100 nodes (measured by benchmarks/redfish_sweep.py): most of a batch's time."""
    if not objects:
        return
    if model is BmcFacts and "firmware" in fields:
        # raw SQL would leave BmcFacts.versions_digest stale (the dry run groups by it)
        raise ValueError("write BmcFacts.firmware through the model, not _rows_update")
    connection = connections[router.db_for_write(model)]
    columns = [model._meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    # identifiers from the model's metadata, quoted; every value is a parameter
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET "  # noqa: S608
        + ", ".join(f"{quote(c.column)} = %s" for c in columns)
        + f" WHERE {quote(model._meta.pk.column)} = %s"
    )
    rows = [
        [c.get_db_prep_save(getattr(obj, c.attname), connection) for c in columns] + [obj.pk]
        for obj in objects
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
