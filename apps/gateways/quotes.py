"""TPM quotes and enrolment through site gateways: the gateway asks, the central side judges.

`attest_route` takes the nodes of an attestation sweep (or one "Attest now"), sends those of
gateway sites to their gateway and returns the others to be attested here. For a quote, one
sealed call per gateway carries each node's agent address and token and a fresh nonce made
here (kept on the call); the gateway answers the raw evidence and `quote_answer` judges it with
the same `attestation.services.verify_evidence` as a direct check (signature by the enrolled AK,
our nonce, replay, event log, prediction), then records it the same way. Enrolment takes two
calls: the agents' identities (checked here, the credential made here) then the activation
(the secret compared here, never shown to the gateway in advance). A call unanswered at its
deadline records "site gateway offline" (unreachable), never a mismatch.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
from collections import Counter
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from heatsite_agent.client import AgentIdentity, QuoteEvidence

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.gateways import dispatch, services, wire
from apps.gateways.models import Gateway, GatewayCall, GatewaySite
from apps.sites.models import Node

logger = logging.getLogger(__name__)
QUOTE, IDENTITY, ACTIVATE = "tpm_quote", "tpm_identity", "tpm_activate"
KINDS = (QUOTE, IDENTITY, ACTIVATE)
# nodes per call: an answer carries each node's event log (tens of kB), and RabbitMQ refuses
# messages past its max_message_size (16 MiB by default since 4.0)
CALL_NODES = 50


def _attestation():
    from apps.attestation import services as attestation

    return attestation


def attest_route(node_ids: list[int]) -> tuple[list[int], Counter[str]]:
    """Sends the nodes of gateway sites to their gateways (enrolling first those with an
    endpoint and no enrolment); returns the ids to attest here and what was sent."""
    sites = dict(Node.objects.filter(pk__in=node_ids).values_list("pk", "site_id"))
    routed = services.gateways_for_sites(set(sites.values()))
    counts: Counter[str] = Counter()
    if not routed:
        return list(node_ids), counts
    local, by_gateway = [], {}
    for node_id in node_ids:
        gateway = routed.get(sites.get(node_id, 0))
        if gateway is None:
            local.append(node_id)
        else:
            by_gateway.setdefault(gateway.pk, (gateway, []))[1].append(node_id)
    for gateway, ids in by_gateway.values():
        plans, unenrolled = _attestation().plans_for(ids)
        for start in range(0, len(plans), CALL_NODES):
            quote_send(gateway, plans[start : start + CALL_NODES])
        for start in range(0, len(unenrolled), CALL_NODES):
            enrol_send(gateway, unenrolled[start : start + CALL_NODES])
        if plans:
            counts["sent_to_gateway"] += len(plans)
        if unenrolled:
            counts["enrol_sent_to_gateway"] += len(unenrolled)
        counts["skipped"] += len(ids) - len(plans) - len(unenrolled)
    return local, counts


def _agent(node_id: int, address: Any) -> dict[str, Any]:
    return {
        "node_id": node_id,
        "host": address.host,
        "port": address.port,
        "token": base64.b64encode(address.token).decode("ascii"),
        "cert_fingerprint": address.cert_fingerprint,
    }


def _call(gateway: Gateway, kind: str, detail: dict[str, Any]) -> GatewayCall:
    now = timezone.now()
    deadline = now + timedelta(seconds=settings.GATEWAY_QUOTE_DEADLINE)
    margin = min(settings.GATEWAY_START_MARGIN, settings.GATEWAY_QUOTE_DEADLINE / 2)
    return GatewayCall.objects.create(
        gateway=gateway,
        kind=kind,
        sent_at=now,
        start_by=deadline - timedelta(seconds=margin),
        deadline=deadline,
        detail=detail,
    )


def _send(gateway: Gateway, call: GatewayCall, task: str, sealed: dict[str, Any]) -> bool:
    call_id = str(call.pk)
    message = {
        "call_id": call_id,
        "gateway": gateway.name,
        "start_by": call.start_by.timestamp(),
        "sealed": services.seal_for(gateway, call_id, sealed),
    }
    try:
        dispatch.gateway_send(gateway.name, task, message, expires=call.start_by)
        dispatch.deadline_send(call_id, eta=call.deadline + timedelta(seconds=1))
    except Exception as error:
        logger.exception("%s call not sent to gateway %s", call.kind, gateway)
        GatewayCall.objects.filter(pk=call.pk).update(status=GatewayCall.Status.EXPIRED)
        call.refresh_from_db()
        call_ended(
            call,
            "gateway_queue",
            f"the site gateway's queue is unavailable: nothing was sent ({error})",
        )
        return False
    return True


def quote_send(gateway: Gateway, plans: list[Any]) -> GatewayCall:
    """One quote call for ``plans`` (nodes of ``gateway``'s sites), a fresh nonce each."""
    attestation = _attestation()
    nonces = {p.node_id: os.urandom(32).hex() for p in plans}
    call = _call(gateway, QUOTE, {"nonces": {str(k): v for k, v in nonces.items()}})
    agents = [{**_agent(p.node_id, p.address), "nonce": nonces[p.node_id]} for p in plans]
    sealed = {
        "agents": agents,
        "pcrs": list(attestation.QUOTE_PCRS),
        "timeout": attestation.agent_timeout(),
    }
    _send(gateway, call, wire.TPM_QUOTE_TASK, sealed)
    return call


def enrol_send(gateway: Gateway, node_ids: list[int]) -> GatewayCall | None:
    """Enrolment's first step through ``gateway``: ask the agents for their EK and AK."""
    addresses = _attestation().addresses_for(node_ids)
    if not addresses:
        return None
    call = _call(gateway, IDENTITY, {"nodes": [str(n) for n in addresses]})
    sealed = {
        "step": "identity",
        "agents": [_agent(n, a) for n, a in addresses.items()],
        "timeout": _attestation().agent_timeout(),
    }
    _send(gateway, call, wire.TPM_ENROL_TASK, sealed)
    return call


# --- answers --------------------------------------------------------------------------------


def _claim(gateway: Gateway, call_id: str, kind: str) -> tuple[GatewayCall | None, str]:
    """The open call ``call_id`` of ``gateway``, marked answered; else why not."""
    with transaction.atomic():
        call = (
            GatewayCall.objects.select_for_update()
            .filter(pk=call_id, gateway=gateway, kind=kind)
            .first()
        )
        if call is None:
            audit_record(
                actor=None,
                action="gateway.answer",
                target=gateway,
                result=AuditEvent.Result.REFUSED,
                detail={"call_id": call_id[:64], "reason": f"not a {kind} call of this gateway"},
            )
            return None, "refused"
        if call.answered_at is not None:
            return None, "duplicate"
        call.answered_at = timezone.now()
        late = call.status == GatewayCall.Status.EXPIRED
        if not late:
            call.status = GatewayCall.Status.ANSWERED
        call.save(update_fields=["status", "answered_at"])
    if late:
        # the deadline recorded these nodes unreachable already; the next sweep asks again
        audit_record(
            actor=None,
            action="gateway.late_answer",
            target=gateway,
            result=AuditEvent.Result.REFUSED,
            detail={"call_id": call_id, "kind": kind},
        )
        return None, "late"
    return call, ""


def _items(gateway: Gateway, payload: dict[str, Any], key: str, asked: list[int]):
    """The gateway's answers by node id, for nodes of this call and of its own sites only."""
    own = set(GatewaySite.objects.filter(gateway=gateway).values_list("site_id", flat=True))
    mine = set(Node.objects.filter(pk__in=asked, site_id__in=own).values_list("pk", flat=True))
    items: dict[int, dict[str, Any]] = {}
    listed = payload.get(key) if isinstance(payload, dict) else None
    for item in listed if isinstance(listed, list) else []:
        try:
            node_id = int(item["node_id"])
        except (TypeError, KeyError, ValueError):
            continue
        if node_id in mine:
            items[node_id] = item
    return mine, items


def _b(item: dict[str, Any], key: str) -> bytes:
    return base64.b64decode(str(item[key]), validate=True)


def _outcome(gateway: Gateway, plan: Any, nonce: bytes, item: dict[str, Any] | None) -> Any:
    attestation = _attestation()
    unreachable = attestation.Verdict.UNREACHABLE
    if item is None:
        reason = f"the site gateway {gateway.name} sent nothing for this node"
        return attestation.Outcome(plan.node_id, unreachable, "unreachable", reason, nonce=nonce)
    if not item.get("ok"):
        code = "unreachable" if item.get("transient", True) else "agent_refused"
        reason = f"via site gateway {gateway.name}: {str(item.get('error') or '')[:300]}"
        return attestation.Outcome(plan.node_id, unreachable, code, reason, nonce=nonce)
    try:
        evidence = QuoteEvidence(
            _b(item, "attest"),
            _b(item, "signature"),
            {b: {int(p): str(v) for p, v in vals.items()} for b, vals in item["pcrs"].items()},
            _b(item, "eventlog"),
        )
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error):
        reason = f"the site gateway {gateway.name} sent malformed evidence for this node"
        return attestation.Outcome(plan.node_id, unreachable, "agent_refused", reason, nonce=nonce)
    out = attestation.verify_evidence(plan, nonce, evidence)
    try:
        out.duration_ms = float(item.get("ms") or 0.0)
    except (TypeError, ValueError):
        out.duration_ms = 0.0
    return out


def quote_answer(gateway: Gateway, call_id: str, payload: dict[str, Any]) -> str:
    """Judges and records a gateway's quotes against the nonces of its own call."""
    call, refused = _claim(gateway, call_id, QUOTE)
    if call is None:
        return refused
    nonces = {int(k): bytes.fromhex(v) for k, v in call.detail.get("nonces", {}).items()}
    mine, items = _items(gateway, payload, "quotes", list(nonces))
    attestation = _attestation()
    plans, _ = attestation.plans_for(sorted(mine))
    outcomes = [_outcome(gateway, p, nonces[p.node_id], items.get(p.node_id)) for p in plans]
    attestation.outcomes_record(outcomes, {p.node_id: p for p in plans})
    return "recorded"


def _identity(item: dict[str, Any]) -> AgentIdentity:
    certificate = item.get("ek_certificate")
    return AgentIdentity(
        _b(item, "ek_public"),
        base64.b64decode(certificate, validate=True) if certificate else None,
        _b(item, "ak_public"),
        bytes.fromhex(str(item["ak_name"])),
    )


def _identity_plain(ident: AgentIdentity) -> dict[str, Any]:
    def b64(data: bytes | None) -> str | None:
        return base64.b64encode(data).decode("ascii") if data is not None else None

    return {
        "ek_public": b64(ident.ek_public),
        "ek_certificate": b64(ident.ek_certificate),
        "ak_public": b64(ident.ak_public),
        "ak_name": ident.ak_name.hex(),
    }


def identity_answer(gateway: Gateway, call_id: str, payload: dict[str, Any]) -> str:
    """Checks the agents' identities (AK attributes and name, EK certificate) and sends each a
    credential to activate; only the secret's digest is kept, on the new call."""
    call, refused = _claim(gateway, call_id, IDENTITY)
    if call is None:
        return refused
    attestation = _attestation()
    asked = [int(n) for n in call.detail.get("nodes", [])]
    mine, items = _items(gateway, payload, "answers", asked)
    addresses = attestation.addresses_for(sorted(mine))
    issuers = attestation.ek_issuers()
    pending, agents = {}, []
    for node_id, address in addresses.items():
        item = items.get(node_id)
        try:
            if item is None or not item.get("ok"):
                why = (item or {}).get("error") or "the gateway sent nothing for this node"
                raise attestation.EnrolmentFailed(f"via site gateway {gateway.name}: {why}")
            try:
                ident = _identity(item)
            except (KeyError, TypeError, ValueError, binascii.Error):
                raise attestation.EnrolmentFailed("the agent's identity is malformed") from None
            blob, secret = attestation.credential_make(ident, issuers)
        except attestation.EnrolmentFailed as exc:
            attestation.enrolment_failed(node_id, str(exc))
            continue
        pending[str(node_id)] = {
            "identity": _identity_plain(ident),
            "secret_sha256": hashlib.sha256(secret).hexdigest(),
        }
        agents.append({**_agent(node_id, address), "blob": base64.b64encode(blob).decode()})
    if agents:
        activate = _call(gateway, ACTIVATE, {"nodes": pending})
        sealed = {"step": "activate", "agents": agents, "timeout": attestation.agent_timeout()}
        _send(gateway, activate, wire.TPM_ENROL_TASK, sealed)
    return "activating"


def activate_answer(gateway: Gateway, call_id: str, payload: dict[str, Any]) -> str:
    """Enrols the nodes whose TPM gave back the right secret, then quotes them (zero-touch)."""
    call, refused = _claim(gateway, call_id, ACTIVATE)
    if call is None:
        return refused
    attestation = _attestation()
    pending = {int(k): v for k, v in call.detail.get("nodes", {}).items()}
    mine, items = _items(gateway, payload, "answers", list(pending))
    enrolled = []
    for node_id in sorted(mine):
        item = items.get(node_id) or {}
        try:
            secret = _b(item, "secret") if item.get("ok") else b""
        except (KeyError, TypeError, ValueError, binascii.Error):
            secret = b""
        digest = hashlib.sha256(secret).hexdigest()
        if not secret or not hmac.compare_digest(digest, pending[node_id]["secret_sha256"]):
            why = item.get("error") or "credential activation returned the wrong secret"
            attestation.enrolment_failed(node_id, f"via site gateway {gateway.name}: {why}")
            continue
        attestation.enrolment_store(node_id, _identity(pending[node_id]["identity"]))
        enrolled.append(node_id)
    plans, _ = attestation.plans_for(enrolled)
    if plans:
        quote_send(gateway, plans)
    return "enrolled"


# --- deadlines ------------------------------------------------------------------------------


def call_ended(call: GatewayCall, cause: str, reason: str) -> None:
    """A quote or enrolment call that will get no answer: its nodes unreachable, with why."""
    attestation = _attestation()
    if call.kind == QUOTE:
        nonces = {int(k): bytes.fromhex(v) for k, v in call.detail.get("nonces", {}).items()}
        plans, _ = attestation.plans_for(sorted(nonces))
        unreachable = attestation.Verdict.UNREACHABLE
        outcomes = [
            attestation.Outcome(p.node_id, unreachable, cause, reason, nonce=nonces[p.node_id])
            for p in plans
        ]
        attestation.outcomes_record(outcomes, {p.node_id: p for p in plans})
    elif call.kind in (IDENTITY, ACTIVATE):
        for node_id in call.detail.get("nodes", []):
            attestation.enrolment_failed(int(node_id), reason)


def call_expired(call: GatewayCall) -> None:
    """The deadline passed without an answer (called by `power.call_expire`, call locked)."""
    call_ended(
        call,
        "gateway_offline",
        f"site gateway offline: {call.gateway.name} did not answer by the deadline "
        f"({call.deadline:%Y-%m-%d %H:%M:%S} UTC); the agent is not asked later",
    )


def answer(gateway: Gateway, kind: str, call_id: str, payload: dict[str, Any]) -> str:
    """A verified answer of one of `KINDS` (from `results.result_receive`)."""
    handlers = {QUOTE: quote_answer, IDENTITY: identity_answer, ACTIVATE: activate_answer}
    return handlers[kind](gateway, call_id, payload)
