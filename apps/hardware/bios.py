"""BIOS settings in the console: what the node page and the API show, and the engineer's change.

The details read (`apps.hardware.details`) stores the BMC's BIOS attributes with its attribute
registry's words in ``BmcFacts.bios``. A change is checked against that stored registry first
(unknown attribute, read-only, wrong type, not an allowed value, out of bounds: a reason per
attribute, nothing sent), then staged on the BMC with the driver's `set_bios` (which checks
again against the live registry, and the BMC has the last word); the BIOS applies it at the
next reset. The call is synchronous: the driver's connect and read timeouts bound it, and the
engineer sees the BMC's answer, not a queued promise. Every request is audited, refused ones
included; BIOS password attributes are never changed here (their values would be secrets).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.crypto import CredentialError
from apps.hardware import reach
from apps.hardware.details import bios_dict
from apps.hardware.drivers.base import BiosValue, BmcError, driver_for
from apps.hardware.models import BmcFacts
from apps.hardware.protocols import endpoint_for
from apps.sites.models import Node

logger = logging.getLogger(__name__)

MAX_CHANGES = 64
MAX_NAME, MAX_REASON = 100, 300
APPLY_NOTE = gettext_noop(
    "Changes are staged on the BMC and applied by the BIOS at the node's next reset."
)
# BMC answers that mean "the BMC refused this" (409), as opposed to "it did not answer" (502).
REFUSALS = (
    "bad_request",
    "bad_power_state",
    "not_supported",
    "certificate_unknown",
    "certificate_changed",
)


class BiosChangeInvalid(Exception):
    """The change does not fit the stored registry: ``errors`` maps attribute → reason
    (``"attributes"`` for the request as a whole)."""

    def __init__(self, errors: dict[str, str], *, unread: bool = False):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
        self.unread = unread  # nothing stored to check against: read the BMC first


class BiosChangeRefused(Exception):
    """The BMC refused or failed the change; ``refused`` says whether it answered with a
    refusal (its own words in ``message``) rather than not answering."""

    def __init__(self, message: str, *, cause: str, refused: bool):
        super().__init__(message)
        self.message, self.cause, self.refused = message, cause, refused


# -- reading ---------------------------------------------------------------------------------


def bios_rows(facts: BmcFacts | None) -> list[dict[str, Any]]:
    """The stored attributes for display: display name (or the name), current value, the
    pending value (``has_pending``), sorted by what people read."""
    stored = (facts.bios if facts else None) or {}
    pending = stored.get("pending") or {}
    rows = []
    for attribute in stored.get("attributes") or []:
        name = attribute.get("name", "")
        rows.append(
            attribute
            | {
                "label": attribute.get("display_name") or name,
                "has_pending": name in pending,
                "pending_value": pending.get(name),
                "effective": pending.get(name, attribute.get("value")),
            }
        )
    rows.sort(key=lambda row: (str(row["label"]).lower(), row["name"]))
    return rows


def bios_editable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows an engineer may change (not read-only, not a password)."""
    return [r for r in rows if not r.get("read_only") and r.get("type") != "Password"]


# -- checking against the stored registry -----------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, str):
        return "String"
    return "other"


def _check_one(attribute: dict[str, Any], value: Any) -> str:
    """Why ``value`` cannot be staged for ``attribute`` ("" when it can)."""
    kind = attribute.get("type") or _kind(attribute.get("value"))
    if attribute.get("read_only"):
        return "is read-only."
    if kind == "Password":
        return "is a BIOS password: Heatsite does not set BIOS passwords."
    if kind == "Enumeration":
        allowed = attribute.get("allowed") or []
        if not isinstance(value, str) or (allowed and value not in allowed):
            return f"{value!r} is not one of {', '.join(allowed)}."
    elif kind == "Integer":
        if _kind(value) != "Integer":
            return "takes a whole number."
        low, high = attribute.get("lower"), attribute.get("upper")
        if (low is not None and value < low) or (high is not None and value > high):
            return (
                f"{value} is outside {'' if low is None else low}…{'' if high is None else high}."
            )
    elif kind == "Boolean":
        if not isinstance(value, bool):
            return "takes true or false."
    elif kind == "String":
        if not isinstance(value, str):
            return "takes text."
        low, high = attribute.get("min_length"), attribute.get("max_length")
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            return f"takes {low or 0}…{'' if high is None else high} characters."
    elif _kind(value) == "other":
        return "takes text, a number or true/false."
    return ""


def bios_changes_check(facts: BmcFacts | None, changes: Any) -> dict[str, BiosValue]:
    """The changes that would change something, checked against the stored registry; raises
    `BiosChangeInvalid` with a reason per bad attribute."""
    stored = (facts.bios if facts else None) or {}
    if not stored.get("attributes"):
        raise BiosChangeInvalid(
            {"attributes": "The BIOS settings have not been read yet: read the BMC first."},
            unread=True,
        )
    if not isinstance(changes, dict) or not changes:
        raise BiosChangeInvalid({"attributes": "Name at least one BIOS attribute to change."})
    if len(changes) > MAX_CHANGES:
        raise BiosChangeInvalid({"attributes": f"At most {MAX_CHANGES} attributes at once."})
    by_name = {a["name"]: a for a in stored["attributes"] if isinstance(a, dict)}
    pending = stored.get("pending") or {}
    errors: dict[str, str] = {}
    wanted: dict[str, BiosValue] = {}
    for name, value in changes.items():
        attribute = by_name.get(name) if isinstance(name, str) else None
        if attribute is None:
            # names come from the request: bounded before they reach a page or the audit
            errors[str(name)[:MAX_NAME]] = "The BIOS has no such attribute."
            continue
        reason = _check_one(attribute, value)
        if reason:
            errors[name] = f"{attribute.get('display_name') or name} {reason}"[:MAX_REASON]
            continue
        if value != pending.get(name, attribute.get("value")):
            wanted[name] = value
    if errors:
        raise BiosChangeInvalid(errors)
    if not wanted:
        raise BiosChangeInvalid(
            {"attributes": "Nothing changes: these are the values already set or pending."}
        )
    return wanted


def bios_form_value(attribute: dict[str, Any], raw: str) -> BiosValue:
    """A form field's text as the attribute's type (a bad number stays text, so that the
    check names the attribute)."""
    kind = attribute.get("type") or _kind(attribute.get("value"))
    text = raw.strip()
    if kind == "Integer":
        try:
            return int(text)
        except ValueError:
            return text
    if kind == "Boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    return raw


def bios_diff(facts: BmcFacts | None, changes: dict[str, BiosValue]) -> list[dict[str, Any]]:
    """What the engineer confirms: attribute, what it is now (pending or current), the new
    value."""
    rows = {row["name"]: row for row in bios_rows(facts)}
    return [
        {
            "name": name,
            "label": rows[name]["label"],
            "current": rows[name]["value"],
            "pending": rows[name]["pending_value"] if rows[name]["has_pending"] else None,
            "has_pending": rows[name]["has_pending"],
            "new": value,
        }
        for name, value in changes.items()
        if name in rows
    ]


# -- the change ------------------------------------------------------------------------------


def bios_change_request(*, actor: Any, node: Node, changes: Any) -> BmcFacts:
    """Checks ``changes`` against the stored registry, stages them on the BMC (applied at the
    next reset), stores the settings the BMC reports afterwards, and audits the request.

    Raises `BiosChangeInvalid` (nothing sent) or `BiosChangeRefused` (the BMC said no, or did
    not answer, or the node is reached through a site gateway: `reach`); audited as refused or
    failed.
    """
    access.require(actor, Action.CONFIGURE_BMC)
    refusal = reach.gateway_refusal(node, "bios")
    if refusal:
        audit_record(
            actor=actor,
            action="bmc.bios_change",
            target=node,
            result=AuditEvent.Result.REFUSED,
            detail={"cause": reach.CAUSE, "reason": refusal},
        )
        raise BiosChangeRefused(refusal, cause=reach.CAUSE, refused=True)
    facts = BmcFacts.objects.filter(node=node).first()
    try:
        wanted = bios_changes_check(facts, changes)
    except BiosChangeInvalid as invalid:
        audit_record(
            actor=actor,
            action="bmc.bios_change",
            target=node,
            result=AuditEvent.Result.REFUSED,
            detail={"errors": invalid.errors},
        )
        raise
    diff = {
        row["name"]: {
            "from": row["pending"] if row["has_pending"] else row["current"],
            "to": row["new"],
        }
        for row in bios_diff(facts, wanted)
    }
    try:
        driver = driver_for(endpoint_for(node), timeout=settings.BMC_TIMEOUT)
        staged = driver.set_bios(wanted)
    except (BmcError, CredentialError) as error:
        cause = getattr(error, "cause", "bad_credentials")
        message = getattr(error, "message", "The BMC password cannot be decrypted.")
        audit_record(
            actor=actor,
            action="bmc.bios_change",
            target=node,
            result=AuditEvent.Result.REFUSED if cause in REFUSALS else AuditEvent.Result.FAILED,
            detail={"changes": diff, "cause": cause, "error": message[:500]},
        )
        raise BiosChangeRefused(message, cause=cause, refused=cause in REFUSALS) from error
    with transaction.atomic():
        facts, _ = BmcFacts.objects.select_for_update().get_or_create(node=node)
        facts.bios = bios_dict(staged, read_at=timezone.now().isoformat())
        facts.features = {**facts.features, "bios": True}
        facts.save(update_fields=["bios", "features", "updated_at"])
        audit_record(
            actor=actor,
            action="bmc.bios_change",
            target=node,
            detail={"changes": diff, "pending": sorted(facts.bios.get("pending") or {})},
        )
    logger.info("node %s: BIOS changes staged by %s: %s", node.pk, actor, sorted(wanted))
    return facts
