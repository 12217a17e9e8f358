"""The first read of a node's BMC details: FRU inventory, firmware versions, boot device.

The poller reads power and sensors every sweep; the details change rarely and cost several
round trips, so an engineer reads them on demand ("Read inventory") and Heatsite reads them once,
by itself, as soon as a node answers a poll: a new node (or a new fleet, or the demo's lab) does
not say "Not read yet" until someone clicks.

After each sweep, `bmc_details_first_read_request` claims the nodes that answered and were never
read (``BmcFacts.details_requested_at``) and enqueues `bmc_details_refresh_task` for each once the
claim commits. The claim is what keeps one node from being queued by every sweep while its read
waits; a read that failed (the BMC stopped answering in between) is claimed again after
`FIRST_READ_RETRY`.

`bmc_details_refresh` is the read itself: inventory, firmware components, boot device, and
where the BMC has them (Redfish) the BIOS settings and the newest BMC log entries. A chassis
intrusion newer than the last one alarmed is audited, logged and pushed, the way a changed
certificate is (`certificates.certificate_record`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.crypto import CredentialError
from apps.core.realtime import broadcast
from apps.hardware import certificates, protocols, reach
from apps.hardware.drivers.base import BiosSettings, BmcError, BootDevice, LogEntry, driver_for
from apps.hardware.models import BmcFacts
from apps.hardware.protocols import endpoint_for
from apps.sites.models import Node

logger = logging.getLogger(__name__)

FIRST_READ_RETRY = timedelta(minutes=15)
# Reads handed to the queue per call (per sweep batch): a new fleet of thousands of nodes is
# read over a few sweeps instead of burying power actions under one burst of tasks.
FIRST_READS_PER_CALL = 100
LOG_ENTRIES = 200  # the newest BMC log entries kept per node
LOG_CHECK_ENTRIES = 20  # the newest entries the periodic check reads (cheap; merged)
# Causes that end the whole read (the BMC is not there, or will not let us in): raised, not
# "feature unavailable".
FATAL_CAUSES = ("unreachable", "timeout", "bad_credentials", "no_session_slot")


def nodes_never_read(node_ids: Iterable[int]) -> QuerySet[Node]:
    """Nodes among these that answered their last poll and whose details were never read (a
    read stores the ``inventory`` feature, available or not, whatever the BMC answers)."""
    # A site gateway's nodes are not read from here (`reach`): their BMC is never contacted.
    return reach.reached_directly(
        Node.objects.filter(pk__in=list(node_ids), reachable=True)
        .exclude(bmc_host="")
        .exclude(bmc_facts__features__has_key="inventory")
    )


def _claimable(now: datetime, prefix: str = "") -> Q:
    field = f"{prefix}details_requested_at"
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": now - FIRST_READ_RETRY})


def bmc_details_first_read_request(
    *, node_ids: Iterable[int], now: datetime | None = None, limit: int = FIRST_READS_PER_CALL
) -> list[int]:
    """Enqueues the first details read of the nodes among ``node_ids`` that answered and were
    never read nor claimed within `FIRST_READ_RETRY`; returns the ids it claimed."""
    now = now or timezone.now()
    candidates = list(
        nodes_never_read(node_ids)
        .filter(_claimable(now, "bmc_facts__"))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    if not candidates:
        return []
    claimed: list[int] = []
    with transaction.atomic():
        BmcFacts.objects.bulk_create(
            [BmcFacts(node_id=pk) for pk in candidates], ignore_conflicts=True
        )
        for pk in candidates:
            # Conditional: of two sweeps of the same nodes at once, one claims each node.
            if (
                BmcFacts.objects.filter(node_id=pk)
                .filter(_claimable(now))
                .update(details_requested_at=now)
            ):
                claimed.append(pk)
        transaction.on_commit(lambda: _send(claimed))
    return claimed


def _send(node_ids: list[int]) -> None:
    from apps.hardware.tasks import bmc_details_refresh_task

    for pk in node_ids:
        try:
            bmc_details_refresh_task.delay(pk)
        except Exception:
            # The claim stays: the read is asked again after FIRST_READ_RETRY.
            logger.exception("node %s: first details read could not be queued", pk)
            return


# -- the read ------------------------------------------------------------------------------


def bmc_details_refresh(node_id: int) -> BmcFacts:
    """Reads FRU inventory, firmware components, the boot device, BIOS settings and the BMC
    log; a BMC that refuses one of them marks that feature unavailable for the node and the
    rest is still stored.

    An ``auto`` node is probed again first (an explicit read is when its protocol is
    re-detected). A Redfish BMC whose certificate is not accepted, or changed, is not read at
    all: the refusal and the certificate it presents are recorded for the node page (they are
    not "feature unavailable").

    A site gateway's node is not read (no gateway path yet: `reach`); its stored facts are
    returned as they are.
    """
    node = Node.objects.select_related("site").get(pk=node_id)
    refusal = reach.gateway_refusal(node, "details")
    if refusal:
        logger.info("node %s: details not read: %s", node.pk, refusal)
        return BmcFacts.objects.get_or_create(node=node)[0]
    if node.bmc_protocol == Node.BmcProtocol.AUTO:
        protocols.bmc_protocol_detect(node=node)
    driver = driver_for(endpoint_for(node), timeout=settings.BMC_TIMEOUT)
    values: dict[str, Any] = {}
    features: dict[str, bool] = {}
    read_at = timezone.now().isoformat()
    for feature, read in (
        ("inventory", lambda: dataclasses.asdict(driver.inventory())),
        (
            "firmware",
            lambda: [dataclasses.asdict(f) | {"read_at": read_at} for f in driver.firmware()],
        ),
        ("boot_device", lambda: boot_dict(driver.boot_device())),
        ("dcmi", lambda: driver.system_power_watts()),
        ("bios", lambda: bios_dict(driver.bios(), read_at=read_at)),
        ("bmc_log", lambda: log_dict(driver.bmc_log(limit=LOG_ENTRIES), read_at=read_at)),
    ):
        try:
            value = read()
        except BmcError as error:
            if error.cause in certificates.CERTIFICATE_CAUSES:
                return _details_refused(node, error)
            if error.cause in FATAL_CAUSES:
                raise
            features[feature] = False
            logger.info("node %s: %s unavailable: %s", node.pk, feature, error.message)
            continue
        features[feature] = value is not None
        if feature != "dcmi":
            values[feature] = value
    with transaction.atomic():
        facts, _ = BmcFacts.objects.select_for_update().get_or_create(node=node)
        for key, value in values.items():
            setattr(facts, key, value)
        facts.features = {**facts.features, **features}
        if facts.last_error_cause in certificates.CERTIFICATE_CAUSES:
            facts.last_error_cause, facts.last_error = "", ""
        if "bmc_log" in values:
            intrusion_alarm(node=node, facts=facts, entries=values["bmc_log"]["entries"])
        facts.save()
    return facts


def _details_refused(node: Node, error: BmcError) -> BmcFacts:
    certificates.certificate_observe(node=node)
    facts, _ = BmcFacts.objects.get_or_create(node=node)
    facts.last_error_cause, facts.last_error = error.cause, error.message[:500]
    facts.save(update_fields=["last_error_cause", "last_error", "updated_at"])
    return facts


def boot_dict(boot: BootDevice) -> dict[str, Any]:
    return {"device": boot.device, "persistent": boot.persistent, "uefi": boot.uefi}


def _shown(kind: str, value: Any) -> Any:
    # A BIOS password (setup, power-on) is a secret: stored as "set or not", never its value.
    return (value not in (None, "")) if kind == "Password" else value


def bios_dict(settings_: BiosSettings, *, read_at: str) -> dict[str, Any]:
    """What `BmcFacts.bios` stores: every attribute with the registry's words, the pending
    changes, and when they were read (JSON; password values never stored)."""
    kinds = {a.name: a.type for a in settings_.attributes}
    return {
        "read_at": read_at,
        "registry": settings_.registry,
        "apply_times": list(settings_.apply_times),
        "applied_at": settings_.applied_at.isoformat() if settings_.applied_at else None,
        "attributes": [
            dataclasses.asdict(a) | {"allowed": list(a.allowed), "value": _shown(a.type, a.value)}
            for a in settings_.attributes
        ],
        "pending": {
            name: _shown(kinds.get(name, ""), value) for name, value in settings_.pending.items()
        },
    }


def log_dict(entries: list[LogEntry], *, read_at: str) -> dict[str, Any]:
    """What `BmcFacts.bmc_log` stores: the entries newest first (created as UTC ISO text)."""
    return {
        "read_at": read_at,
        "entries": [
            dataclasses.asdict(e) | {"created": e.created.isoformat() if e.created else None}
            for e in entries
        ],
    }


def _created(entry: dict[str, Any]) -> datetime | None:
    return parse_datetime(entry["created"]) if entry.get("created") else None


def intrusion_alarm(*, node: Node, facts: BmcFacts, entries: list[dict[str, Any]]) -> int:
    """Chassis intrusions newer than the last one alarmed: audited (once per read, system
    actor), logged and pushed to the site's hardware group; ``facts.intrusion_seen_at``
    moves to the newest. An entry without a time counts only before any intrusion was seen.
    Returns how many were new. Call inside the transaction that saves ``facts``."""
    seen = facts.intrusion_seen_at
    new = [
        e
        for e in entries
        if e.get("intrusion")
        and (seen is None or ((created := _created(e)) is not None and created > seen))
    ]
    if not new:
        return 0
    times = [t for e in new if (t := _created(e)) is not None]
    newest = max(times) if times else None
    facts.intrusion_seen_at = max(filter(None, (seen, newest)), default=None)
    audit_record(
        actor=None,
        action="bmc.intrusion",
        target=node,
        result=AuditEvent.Result.FAILED,
        detail={
            "count": len(new),
            "newest": newest.isoformat() if newest else None,
            "messages": [str(e.get("message", ""))[:200] for e in new[:5]],
        },
    )
    logger.warning("node %s: %d chassis intrusion event(s) in the BMC log", node.name, len(new))
    broadcast(
        f"site.{node.site_id}.hardware",
        {
            "type": "node.intrusion",
            "node_id": node.pk,
            "count": len(new),
            "at": newest.isoformat() if newest else None,
        },
    )
    return len(new)


# -- the periodic log check ------------------------------------------------------------------


def _key(entry: dict[str, Any]) -> tuple[str, str, str]:
    return (str(entry.get("log", "")), str(entry.get("id", "")), str(entry.get("created") or ""))


def _newest_first(entry: dict[str, Any]) -> tuple[float, int]:
    created = _created(entry)
    number = str(entry.get("id", ""))
    return (
        created.timestamp() if created else float("-inf"),
        int(number) if number.isdigit() else -1,
    )


def log_merge(stored: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fresh entries and the stored ones they do not repeat, newest first, at most
    `LOG_ENTRIES` (a check reads only the newest few; the older ones stay)."""
    seen = {_key(e) for e in fresh}
    merged = fresh + [e for e in stored if _key(e) not in seen]
    merged.sort(key=_newest_first, reverse=True)
    return merged[:LOG_ENTRIES]


def bmc_logs_check(*, node_ids: Iterable[int], limit: int = LOG_CHECK_ENTRIES) -> dict[str, int]:
    """Reads the newest ``limit`` log entries of these nodes (those that answered their last
    poll and whose log was read before and is available), merges them into the stored log and
    alarms new chassis intrusions (`intrusion_alarm`): an opened cover is noticed within
    ``BMC_LOG_INTERVAL``, not only when someone reads the node. A BMC that fails is skipped
    (the sweep reports it), and so is a site gateway's node (`reach`: not read from here);
    counts for the task's log."""
    nodes = list(
        reach.reached_directly(
            Node.objects.filter(pk__in=list(node_ids), reachable=True)
            .exclude(bmc_host="")
            .filter(bmc_facts__features__bmc_log=True)
        ).select_related("site")
    )
    counts = {"checked": 0, "failed": 0, "intrusions": 0}
    for node in nodes:
        try:
            driver = driver_for(endpoint_for(node), timeout=settings.BMC_TIMEOUT)
            fresh = log_dict(driver.bmc_log(limit=limit), read_at=timezone.now().isoformat())
        except (BmcError, CredentialError) as error:
            counts["failed"] += 1
            logger.info("node %s: log check failed: %s", node.pk, getattr(error, "message", error))
            continue
        with transaction.atomic():
            facts = BmcFacts.objects.select_for_update().get(node=node)
            stored = (facts.bmc_log or {}).get("entries") or []
            facts.bmc_log = fresh | {"entries": log_merge(stored, fresh["entries"])}
            counts["intrusions"] += intrusion_alarm(
                node=node, facts=facts, entries=fresh["entries"]
            )
            facts.save(update_fields=["bmc_log", "intrusion_seen_at", "updated_at"])
        counts["checked"] += 1
    return counts
