"""Enrolment and attestation: the only code that talks to node agents and writes verdicts.

The flow for one node (``attest``; ``attestation_sweep`` does the same for many at once):

1. *Plan* (database, main thread): the agent endpoint, the current enrolment's AK, the prediction
   and the acceptable PCR sets of the node's firmware release + configuration + variants, and the
   clock info of the previous accepted quote.
2. *Check* (network + crypto, no ORM, runs in a bounded thread pool): a fresh nonce, the agent's
   quote, then ``verify_evidence``: signature by the enrolled AK, magic, type, nonce, selection
   (sha256 PCR0-7), PCR digest, reset/restart counters and clock, then the quoted PCRs against
   the acceptable sets. The event log only explains: it must first replay to the quoted values,
   then ``predict.explain`` diffs it against the prediction.
3. *Record* (database, main thread): one ``Attestation`` row with the evidence, an audit event
   when a node's verdict changes, a live push on commit.

Zero-touch enrolment (``enrol``) proves with MakeCredential/ActivateCredential that the AK lives
in the TPM holding the EK; a node with an endpoint and no enrolment is enrolled by the sweep.
Re-enrolment (TPM cleared or replaced) supersedes the previous identity and is audited.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext
from heatsite_agent.client import AgentClient, AgentError, AgentIdentity, QuoteEvidence

from apps.accounts import access
from apps.accounts.policy import Action
from apps.attestation import enrolment as tpm_enrolment
from apps.attestation import predict
from apps.attestation.models import (
    AgentEndpoint,
    Attestation,
    Enrolment,
    FirmwareRelease,
    NodeConfiguration,
    config_to_json,
    option_rom_from_json,
)
from apps.attestation.tcg import quote as tcg_quote
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.realtime import broadcast
from apps.ops import metrics
from apps.sites.models import Node

logger = logging.getLogger(__name__)

QUOTE_PCRS = tuple(range(8))
QUOTE_SELECTION = {"sha256": QUOTE_PCRS}
Verdict = Attestation.Verdict

# QuoteError.code -> the reason code recorded on the attestation.
_QUOTE_CODES = {
    "malformed": "malformed",
    "hash_alg": "unknown_bank",
    "key": "bad_ak",
    "signature": "signature",
    "magic": "magic",
    "type": "type",
    "nonce": "nonce",
    "selection": "selection",
    "pcr_digest": "pcr_values_altered",
    "pcr_values": "pcr_values",
}


class AttestationError(Exception):
    """A request the attestation service refuses, with a one-line reason."""


class EnrolmentFailed(AttestationError):
    """The node could not prove its TPM identity (agent unreachable, bad AK, failed activation)."""


# --- plain data passed to the worker threads ------------------------------------------------


@dataclass(frozen=True)
class AgentAddress:
    """How to reach one agent (decrypted token: never logged, never stored elsewhere)."""

    host: str
    port: int
    token: bytes
    cert_fingerprint: str


@dataclass(frozen=True)
class Reference:
    """What a node should show: the prediction and every acceptable sha256 PCR0-7 vector."""

    release_version: str
    prediction: predict.Prediction
    acceptable: tuple[tuple[tuple[int, str], ...], ...]

    def accepts(self, pcrs: dict[int, str]) -> bool:
        return tuple(sorted(pcrs.items())) in self.acceptable


@dataclass(frozen=True)
class Plan:
    """Everything needed to attest one node without touching the database."""

    node_id: int
    node_name: str
    address: AgentAddress
    enrolment_id: int
    ak_public: bytes
    reference: Reference | None
    reference_error: str = ""
    previous_clock: tcg_quote.ClockInfo | None = None


@dataclass
class Outcome:
    """The result of checking one node, before it is recorded."""

    node_id: int
    verdict: str
    reason_code: str = ""
    reason: str = ""
    nonce: bytes = b""
    evidence: QuoteEvidence | None = None
    clock: tcg_quote.ClockInfo | None = None
    rebooted: bool = False
    divergences: list[dict[str, Any]] = field(default_factory=list)
    release_version: str = ""
    duration_ms: float = 0.0
    quoted_nonce: bytes = b""


# --- agents ---------------------------------------------------------------------------------


def agent_timeout() -> float:
    return float(getattr(settings, "ATTESTATION_AGENT_TIMEOUT", 10.0))


def client_for(address: AgentAddress) -> Any:
    """The agent client of one node (tests substitute evidence by wrapping this)."""
    return AgentClient(
        address.host, address.port, address.token, address.cert_fingerprint, timeout=agent_timeout()
    )


def _address(endpoint: AgentEndpoint) -> AgentAddress:
    return AgentAddress(endpoint.host, endpoint.port, endpoint.token, endpoint.cert_fingerprint)


def addresses_for(node_ids: Iterable[int]) -> dict[int, AgentAddress]:
    """The agent addresses of those of ``node_ids`` that have an endpoint (for a gateway)."""
    endpoints = AgentEndpoint.objects.filter(node_id__in=list(node_ids)).order_by("node_id")
    return {e.node_id: _address(e) for e in endpoints}


def endpoint_register(
    *, node: Node, host: str, port: int, cert_fingerprint: str, token: bytes, actor: Any = None
) -> AgentEndpoint:
    """Record (or update) where a node's agent answers; the token is encrypted at rest."""
    if actor is not None:
        access.require(actor, Action.MANAGE_FIRMWARE)
    fingerprint = cert_fingerprint.lower().replace(":", "")
    if len(fingerprint) != 64 or any(c not in "0123456789abcdef" for c in fingerprint):
        raise AttestationError("certificate fingerprint must be 64 hex digits (SHA-256)")
    if not 1 <= int(port) <= 65535:
        raise AttestationError("agent port must be between 1 and 65535")
    if len(token) < 16:
        raise AttestationError("agent token must be at least 16 bytes")
    endpoint = AgentEndpoint.objects.filter(node=node).first() or AgentEndpoint(node=node)
    endpoint.host, endpoint.port, endpoint.cert_fingerprint = host, int(port), fingerprint
    endpoint.set_token(token)
    endpoint.save()
    return endpoint


# --- enrolment ------------------------------------------------------------------------------


def ek_issuers() -> list[bytes]:
    return [Path(p).read_bytes() for p in getattr(settings, "ATTESTATION_EK_CA_FILES", [])]


def prove_identity(address: AgentAddress, issuers: list[bytes] | None = None) -> AgentIdentity:
    """Ask the agent for its EK and AK and make it prove they share one TPM (no ORM).

    Raises EnrolmentFailed with the reason.
    """
    client = client_for(address)
    try:
        ident = client.identity()
        blob, secret = credential_make(ident, issuers)
        if not hmac.compare_digest(client.activate(blob), secret):
            raise tpm_enrolment.EnrolmentError("credential activation returned the wrong secret")
    except (AgentError, tpm_enrolment.EnrolmentError) as exc:
        raise EnrolmentFailed(str(exc)) from None
    return ident


def credential_make(ident: AgentIdentity, issuers: list[bytes] | None) -> tuple[bytes, bytes]:
    """Checks an agent's reported identity (AK attributes and name, EK certificate) and makes
    the credential only its TPM can activate: (blob, secret). Raises EnrolmentFailed."""
    try:
        ak = tpm_enrolment.check_ak_attributes(ident.ak_public)
        if tpm_enrolment.ak_name(ak) != ident.ak_name:
            raise tpm_enrolment.EnrolmentError("the AK name does not match the AK public area")
        if ident.ek_certificate:
            tpm_enrolment.check_ek_certificate(ident.ek_certificate, ident.ek_public, issuers)
        return tpm_enrolment.make_credential(ident.ek_public, ident.ak_name)
    except tpm_enrolment.EnrolmentError as exc:
        raise EnrolmentFailed(str(exc)) from None


def _store_enrolment(node: Node, ident: AgentIdentity, fingerprint: str, actor: Any) -> Enrolment:
    now = timezone.now()
    with transaction.atomic():
        current = (
            Enrolment.objects.select_for_update()
            .filter(node=node, superseded_at__isnull=True)
            .first()
        )
        if (
            current is not None
            and bytes(current.ek_public) == ident.ek_public
            and bytes(current.ak_public) == ident.ak_public
        ):
            return current
        if current is not None:
            current.superseded_at = now
            current.save(update_fields=["superseded_at"])
        enrolment = Enrolment.objects.create(
            node=node,
            ek_public=ident.ek_public,
            ek_certificate=ident.ek_certificate,
            ak_public=ident.ak_public,
            ak_name=ident.ak_name.hex(),
            cert_fingerprint=fingerprint,
            enrolled_at=now,
        )
        audit_record(
            actor=actor,
            action="attestation.reenrol" if current is not None else "attestation.enrol",
            target=node,
            detail={
                "ak_name": enrolment.ak_name,
                "ek_certificate": bool(ident.ek_certificate),
                **({"previous_ak_name": current.ak_name} if current is not None else {}),
                **(
                    {"ek_changed": bytes(current.ek_public) != ident.ek_public}
                    if current is not None
                    else {}
                ),
            },
        )
    return enrolment


def enrol(*, node_id: int, actor: Any = None) -> Enrolment | None:
    """Zero-touch enrolment of one node: MakeCredential/ActivateCredential against its agent
    (through its site gateway if it has one: then None, the enrolment comes with the answer).

    Enrolling again with the same EK and AK changes nothing; a different EK or AK (TPM cleared,
    board replaced) supersedes the previous enrolment and is audited as a re-enrolment.
    """
    if actor is not None:
        access.require(actor, Action.MANAGE_FIRMWARE)
    node = Node.objects.select_related("site").get(pk=node_id)
    endpoint = AgentEndpoint.objects.filter(node=node).first()
    if endpoint is None:
        raise EnrolmentFailed(f"{node.name} has no registered agent endpoint")
    from apps.gateways import quotes
    from apps.gateways import services as gateways

    gateway = gateways.gateway_for_site(node.site_id)
    if gateway is not None:
        quotes.enrol_send(gateway, [node.pk])  # recorded when the gateway answers
        return None
    try:
        ident = prove_identity(_address(endpoint), ek_issuers())
    except EnrolmentFailed as exc:
        enrolment_failed(node.pk, str(exc), actor)
        raise
    return _store_enrolment(node, ident, endpoint.cert_fingerprint, actor)


def enrolment_failed(node_id: int, reason: str, actor: Any = None) -> None:
    node = Node.objects.filter(pk=node_id).first()
    audit_record(
        actor=actor,
        action="attestation.enrol",
        target=node,
        result=AuditEvent.Result.FAILED,
        detail={"reason": reason[:300]},
    )


def enrolment_store(node_id: int, ident: AgentIdentity) -> Enrolment:
    """Stores an identity proven through a site gateway (`gateways.quotes`)."""
    endpoint = AgentEndpoint.objects.select_related("node").get(node_id=node_id)
    return _store_enrolment(endpoint.node, ident, endpoint.cert_fingerprint, None)


# --- references (predictions) ---------------------------------------------------------------

_REFERENCE_CACHE: dict[tuple, Reference] = {}
_REFERENCE_CACHE_MAX = 4096


def reference_for(config: NodeConfiguration) -> Reference:
    """Prediction + acceptable sets of a node configuration (cached until either changes).

    Raises ``predict.PredictionError`` when the stored inputs are inconsistent.
    """
    release = config.release
    variant_versions = [str(v) for v in config.variants.get("release_versions", [])]
    variant_releases = list(
        FirmwareRelease.objects.filter(profile_id=release.profile_id, version__in=variant_versions)
    )
    key = (
        config.pk,
        config.updated_at,
        release.pk,
        release.updated_at,
        tuple((r.pk, r.updated_at) for r in variant_releases),
    )
    cached = _REFERENCE_CACHE.get(key)
    if cached is not None:
        return cached
    profile = release.profile.to_profile()
    node_config = config.to_config()
    domain_release = release.to_release()
    prediction = predict.predict(profile, domain_release, node_config)
    rom_sets = tuple(
        tuple(option_rom_from_json(r) for r in roms)
        for roms in config.variants.get("option_rom_sets", [])
    )
    orders = tuple(tuple(int(n) for n in o) for o in config.variants.get("boot_orders", []))
    releases = (
        (domain_release, *(r.to_release() for r in variant_releases)) if variant_releases else ()
    )
    variants = predict.Variants(option_rom_sets=rom_sets, boot_orders=orders, releases=releases)
    sets = predict.acceptable_pcr_sets(profile, domain_release, node_config, variants)
    acceptable = tuple(tuple(sorted((p, v) for p, v in s.items() if p in QUOTE_PCRS)) for s in sets)
    ref = Reference(release.version, prediction, acceptable)
    if len(_REFERENCE_CACHE) >= _REFERENCE_CACHE_MAX:
        _REFERENCE_CACHE.clear()
    _REFERENCE_CACHE[key] = ref
    return ref


def node_prediction(node: Node) -> predict.Prediction:
    """The predicted event sequence and PCRs of a node (AttestationError if it has none)."""
    config = _configuration(node.pk)
    if config is None:
        raise AttestationError(
            gettext("%(node)s has no firmware release and configuration recorded")
            % {"node": node.name}
        )
    try:
        return reference_for(config).prediction
    except predict.PredictionError as exc:
        raise AttestationError(
            gettext("cannot predict %(node)s: %(error)s") % {"node": node.name, "error": exc}
        ) from None


def _configuration(node_id: int) -> NodeConfiguration | None:
    return (
        NodeConfiguration.objects.select_related("release", "release__profile")
        .filter(node_id=node_id)
        .first()
    )


# --- the check (no ORM) ---------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _parsed_ak(ak_public: bytes) -> tcg_quote.AkPublic:
    # Parsing the AK (TPMT_PUBLIC + EC point) costs about as much as verifying the signature;
    # an enrolled AK never changes, so it is parsed once per process.
    return tcg_quote.parse_public(ak_public)


def _invalid(outcome: Outcome, code: str, reason: str) -> Outcome:
    outcome.verdict, outcome.reason_code, outcome.reason = Verdict.INVALID, code, reason
    return outcome


def verify_evidence(plan: Plan, nonce: bytes, evidence: QuoteEvidence) -> Outcome:
    """Judge one node's answer to our challenge ``nonce`` (pure: no ORM, no network)."""
    out = Outcome(plan.node_id, Verdict.INVALID, nonce=nonce, evidence=evidence)
    out.release_version = plan.reference.release_version if plan.reference else ""
    unknown = [b for b in evidence.pcrs if b not in tcg_quote.HASH_IDS]
    if unknown:
        return _invalid(
            out, "unknown_bank", f"the agent reports an unknown PCR bank {unknown[0]!r}"
        )
    try:
        values = {
            bank: {int(p): bytes.fromhex(v) for p, v in vals.items()}
            for bank, vals in evidence.pcrs.items()
        }
    except (ValueError, TypeError):
        return _invalid(out, "pcr_values", "the reported PCR values are not hex digests")
    try:
        ak = _parsed_ak(plan.ak_public)
        result = tcg_quote.verify_quote(
            ak, evidence.attest, evidence.signature, nonce, values, QUOTE_SELECTION
        )
    except tcg_quote.QuoteError as exc:
        code = _QUOTE_CODES.get(exc.code, exc.code)
        if code == "signature":
            reason = f"{exc.reason}: the quote was not signed by this node's enrolled TPM key"
        else:
            reason = exc.reason
        if code == "nonce":
            try:
                out.quoted_nonce = tcg_quote.parse_attest(evidence.attest).extra_data
            except tcg_quote.QuoteError:
                out.quoted_nonce = b""
        return _invalid(out, code, reason)
    except KeyError:
        return _invalid(out, "pcr_values", "the reported PCR values do not cover PCR0-7")
    out.clock = result.clock_info
    if plan.previous_clock is not None:
        check = tcg_quote.check_clock(plan.previous_clock, out.clock)
        out.rebooted = check.rebooted
        # After a reboot the clock may restart lower (unorderly shutdown); counters may not.
        anomalies = [a for a in check.anomalies if not (check.rebooted and a.startswith("clock"))]
        if anomalies:
            return _invalid(out, "clock", "; ".join(anomalies))
    quoted = {p: values["sha256"][p].hex() for p in QUOTE_PCRS}
    try:
        events, locality = predict.parse_eventlog(evidence.eventlog)
        replayed = predict.replay(events, ["sha256"], QUOTE_PCRS, locality)["sha256"]
    except predict.PredictionError as exc:
        return _invalid(out, "eventlog_malformed", f"the event log is unreadable: {exc}")
    if replayed != quoted:
        bad = ", ".join(f"PCR{p}" for p in QUOTE_PCRS if replayed[p] != quoted[p])
        return _invalid(
            out,
            "log_does_not_replay",
            f"the event log does not replay to the quoted values ({bad}): the log was altered "
            "or is incomplete",
        )
    if plan.reference is None:
        out.verdict, out.reason_code = Verdict.MISMATCH, "no_reference"
        out.reason = plan.reference_error or "no firmware release/configuration recorded"
        return out
    if plan.reference.accepts(quoted):
        out.verdict = Verdict.TRUSTED
        out.reason = "rebooted since the previous check" if out.rebooted else ""
        return out
    try:
        why = predict.explain(plan.reference.prediction, evidence.eventlog, quoted)
    except predict.PredictionError as exc:
        why = []
        logger.warning("explaining %s failed: %s", plan.node_name, exc)
    out.verdict, out.reason_code = Verdict.MISMATCH, (why[0].kind if why else "pcr_mismatch")
    out.divergences = [asdict(d) for d in why]
    out.reason = "; ".join(d.message for d in why) or (
        f"the PCRs match none of the approved variants of release {plan.reference.release_version}"
    )
    return out


def check(plan: Plan) -> Outcome:
    """Challenge one node with a fresh nonce and judge its answer (no ORM: thread-safe)."""
    start = time.perf_counter()
    nonce = os.urandom(32)
    try:
        evidence = client_for(plan.address).quote(nonce, QUOTE_PCRS)
    except AgentError as exc:
        out = Outcome(plan.node_id, Verdict.UNREACHABLE, "unreachable", str(exc), nonce=nonce)
        if not exc.transient:
            out.reason_code = "agent_refused"
    else:
        out = verify_evidence(plan, nonce, evidence)
    out.duration_ms = (time.perf_counter() - start) * 1000
    return out


# --- planning and recording (ORM, main thread) ----------------------------------------------


def _plans(node_ids: Iterable[int]) -> tuple[list[Plan], list[int]]:
    """Plans for the enrolled nodes among ``node_ids``, and the ids of unenrolled nodes with an
    agent endpoint."""
    ids = list(node_ids)
    endpoints = {
        e.node_id: e for e in AgentEndpoint.objects.filter(node_id__in=ids).select_related("node")
    }
    enrolments = {
        e.node_id: e
        for e in Enrolment.objects.filter(node_id__in=endpoints, superseded_at__isnull=True)
    }
    configs = {
        c.node_id: c
        for c in NodeConfiguration.objects.filter(node_id__in=enrolments).select_related(
            "release", "release__profile"
        )
    }
    previous = _previous_clocks(list(enrolments.values()))
    plans, unenrolled = [], []
    for node_id in ids:
        endpoint = endpoints.get(node_id)
        if endpoint is None:
            continue
        enrolment = enrolments.get(node_id)
        if enrolment is None:
            unenrolled.append(node_id)
            continue
        reference, error = None, ""
        config = configs.get(node_id)
        if config is None:
            error = "no firmware release and configuration recorded for this node"
        else:
            try:
                reference = reference_for(config)
            except predict.PredictionError as exc:
                error = f"the node's reference cannot be computed: {exc}"
        plans.append(
            Plan(
                node_id,
                endpoint.node.name,
                _address(endpoint),
                enrolment.pk,
                bytes(enrolment.ak_public),
                reference,
                error,
                previous.get(enrolment.pk),
            )
        )
    return plans, unenrolled


def _previous_clocks(enrolments: list[Enrolment]) -> dict[int, tcg_quote.ClockInfo]:
    """Clock info of the latest accepted quote per enrolment, in one query."""
    if not enrolments:
        return {}
    accepted = (Verdict.TRUSTED, Verdict.MISMATCH)
    latest = Attestation.objects.filter(
        enrolment_id=OuterRef("pk"), verdict__in=accepted, reset_count__isnull=False
    ).order_by("-at", "-id")
    rows = (
        Enrolment.objects.filter(pk__in=[e.pk for e in enrolments])
        .annotate(att_id=Subquery(latest.values("pk")[:1]))
        .values_list("pk", "att_id")
    )
    att_ids = {att: enr for enr, att in rows if att is not None}
    out = {}
    for a in Attestation.objects.filter(pk__in=att_ids).only(
        "pk", "clock", "reset_count", "restart_count", "clock_safe"
    ):
        out[att_ids[a.pk]] = tcg_quote.ClockInfo(
            a.clock or 0, a.reset_count or 0, a.restart_count or 0, bool(a.clock_safe)
        )
    return out


def _latest_verdicts(node_ids: list[int]) -> dict[int, str]:
    latest = Attestation.objects.filter(node_id=OuterRef("pk")).order_by("-at", "-id")
    rows = (
        Node.objects.filter(pk__in=node_ids)
        .order_by()
        .annotate(v=Subquery(latest.values("verdict")[:1]))
        .values_list("pk", "v")
    )
    return {pk: v for pk, v in rows if v}


def _replayed_nonce_at(node_id: int, quoted_nonce: bytes) -> datetime | None:
    if not quoted_nonce:
        return None
    earlier = (
        Attestation.objects.filter(node_id=node_id, nonce=quoted_nonce.hex())
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    return earlier


def plans_for(node_ids: Iterable[int]) -> tuple[list[Plan], list[int]]:
    """(plans of the enrolled nodes, ids of those with an endpoint but no enrolment)."""
    return _plans(node_ids)


def outcomes_record(outcomes: list[Outcome], plans: dict[int, Plan]) -> list[Attestation]:
    """Records outcomes judged elsewhere (a site gateway's evidence, `gateways.quotes`)."""
    return _record(outcomes, plans)


def _record(
    outcomes: list[Outcome], plans: dict[int, Plan], actor: Any = None
) -> list[Attestation]:
    """Store the outcomes; audit verdict changes; push each node's new badge on commit."""
    now = timezone.now()
    for out in outcomes:
        if out.reason_code == "nonce":
            earlier = _replayed_nonce_at(out.node_id, out.quoted_nonce)
            if earlier is not None:
                out.reason_code = "replayed_quote"
                out.reason = (
                    f"replayed quote: it answers the challenge of {earlier:%Y-%m-%d %H:%M:%S} UTC, "
                    "not this one"
                )
    previous = _latest_verdicts([o.node_id for o in outcomes])
    nodes = {n.pk: n for n in Node.objects.filter(pk__in=[o.node_id for o in outcomes])}
    rows = []
    for out in outcomes:
        ev = out.evidence
        keep_log = ev is not None and out.verdict != Verdict.TRUSTED
        rows.append(
            Attestation(
                node_id=out.node_id,
                enrolment_id=plans[out.node_id].enrolment_id,
                at=now,
                verdict=out.verdict,
                reason_code=out.reason_code,
                reason=out.reason,
                nonce=out.nonce.hex(),
                quote=ev.attest if ev else None,
                signature=ev.signature if ev else None,
                # The log explains failures; for trusted nodes the quote is the evidence.
                eventlog=ev.eventlog if keep_log else None,
                pcrs=ev.pcrs if ev else {},
                reset_count=out.clock.reset_count if out.clock else None,
                restart_count=out.clock.restart_count if out.clock else None,
                clock=out.clock.clock if out.clock else None,
                clock_safe=out.clock.safe if out.clock else None,
                rebooted=out.rebooted,
                release_version=out.release_version,
                divergences=out.divergences,
                duration_ms=round(out.duration_ms, 2),
            )
        )
    with transaction.atomic():
        created = Attestation.objects.bulk_create(rows)
        for out in outcomes:
            metrics.ATTESTATION_VERDICTS.labels(out.verdict).inc()
        for out in outcomes:
            node = nodes[out.node_id]
            before = previous.get(out.node_id)
            if before != out.verdict:
                audit_record(
                    actor=actor,
                    action="attestation.verdict",
                    target=node,
                    result=AuditEvent.Result.OK
                    if out.verdict == Verdict.TRUSTED
                    else AuditEvent.Result.FAILED,
                    detail={
                        "from": before or "",
                        "to": out.verdict,
                        "reason_code": out.reason_code,
                        "reason": out.reason[:300],
                    },
                )
            broadcast(
                f"site.{node.site_id}.hardware",
                {"type": "node.attestation", "node_id": node.pk, "verdict": out.verdict},
            )
    return created


def _enrol_many(node_ids: list[int], workers: int) -> dict[str, int]:
    """Zero-touch: enrol nodes that have an agent endpoint but no enrolment yet."""
    if not node_ids:
        return {}
    endpoints = list(AgentEndpoint.objects.filter(node_id__in=node_ids).select_related("node"))
    issuers = ek_issuers()

    def prove(endpoint: AgentEndpoint) -> AgentIdentity | EnrolmentFailed:
        try:
            return prove_identity(_address(endpoint), issuers)
        except EnrolmentFailed as exc:
            return exc

    addresses = [(e, _address(e)) for e in endpoints]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        proofs = list(pool.map(lambda pair: prove(pair[0]), addresses))
    counts: Counter[str] = Counter()
    for endpoint, proof in zip(endpoints, proofs, strict=True):
        if isinstance(proof, EnrolmentFailed):
            counts["enrol_failed"] += 1
            logger.info("enrolment of %s failed: %s", endpoint.node.name, proof)
            continue
        _store_enrolment(endpoint.node, proof, endpoint.cert_fingerprint, None)
        counts["enrolled"] += 1
    return dict(counts)


def _concurrency() -> int:
    return int(getattr(settings, "ATTESTATION_SWEEP_CONCURRENCY", 16))


def attestation_sweep(node_ids: Iterable[int], *, workers: int | None = None) -> dict[str, int]:
    """Attest these nodes, at most ``workers`` agents in flight; returns counts per verdict.

    Nodes with an endpoint but no enrolment are enrolled first (zero-touch); nodes without an
    endpoint are skipped (their badge says "not enrolled").
    """
    from apps.gateways import quotes

    ids, counts = quotes.attest_route(list(node_ids))  # gateway sites: judged when answered
    routed_skipped = counts.pop("skipped", 0)
    workers = max(1, workers or _concurrency())
    plans, unenrolled = _plans(ids)
    counts.update(_enrol_many(unenrolled, workers))
    if counts.get("enrolled"):
        plans, _ = _plans(ids)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(check, plans))
    _record(outcomes, {p.node_id: p for p in plans})
    counts.update(str(o.verdict) for o in outcomes)
    counts["skipped"] = len(ids) - len(plans) - counts.get("enrol_failed", 0) + routed_skipped
    return dict(counts)


def attest(*, node_id: int, actor: Any = None) -> Attestation | None:
    """Attest one node now (enrolling it first if it has an endpoint and no enrolment). A node
    of a gateway site is sent to its gateway: None, the verdict is recorded with the answer."""
    if actor is not None:
        access.require(actor, Action.VIEW_ATTESTATION)
    from apps.gateways import quotes

    local, sent = quotes.attest_route([node_id])
    if not local and not sent.get("skipped"):
        return None
    plans, unenrolled = _plans([node_id])
    if unenrolled:
        enrol(node_id=node_id)
        plans, _ = _plans([node_id])
    if not plans:
        raise AttestationError(
            gettext("this node has no registered agent endpoint: nothing to attest")
        )
    return _record([check(plans[0])], {node_id: plans[0]}, actor)[0]


def attest_request(*, actor: Any, node: Node) -> None:
    """An engineer's "Attest now": audited, queued once the transaction commits."""
    access.require(actor, Action.VIEW_ATTESTATION)
    if not AgentEndpoint.objects.filter(node=node).exists():
        raise AttestationError(
            gettext("%(node)s has no registered agent endpoint: nothing to attest")
            % {"node": node.name}
        )
    audit_record(
        actor=actor, action="attestation.request", target=node, result=AuditEvent.Result.PENDING
    )
    transaction.on_commit(lambda: _send_attest(node.pk))


def enrol_request(*, actor: Any, node: Node) -> None:
    """An engineer's "Enrol again" (after a TPM clear or board swap): audited, then queued."""
    access.require(actor, Action.MANAGE_FIRMWARE)
    if not AgentEndpoint.objects.filter(node=node).exists():
        raise AttestationError(
            gettext("%(node)s has no registered agent endpoint: nothing to enrol")
            % {"node": node.name}
        )
    audit_record(
        actor=actor, action="attestation.enrol", target=node, result=AuditEvent.Result.PENDING
    )
    transaction.on_commit(lambda: _send_enrol(node.pk))


def _send_enrol(node_id: int) -> None:
    from apps.attestation.tasks import enrol_node_task

    try:
        enrol_node_task.delay(node_id)
    except Exception:
        logger.exception("enrolment of node %s could not be queued", node_id)


def _send_attest(node_id: int) -> None:
    from apps.attestation.tasks import attest_node_task

    try:
        attest_node_task.delay(node_id)
    except Exception:
        # The badge stays as it was; the audit trail shows the request without a result.
        logger.exception("attestation of node %s could not be queued", node_id)


def configuration_set(
    *,
    node: Node,
    release: FirmwareRelease,
    config: predict.NodeConfiguration,
    variants: dict[str, Any] | None = None,
    actor: Any = None,
) -> NodeConfiguration:
    """Record what a node runs (release) and what it measures (configuration); audited."""
    if actor is not None:
        access.require(actor, Action.MANAGE_FIRMWARE)
    banks = tuple(release.profile.banks) or predict.BANKS
    data = config_to_json(config, banks)
    with transaction.atomic():
        row, created = NodeConfiguration.objects.update_or_create(
            node=node, defaults={"release": release, "config": data, "variants": variants or {}}
        )
        audit_record(
            actor=actor,
            action="attestation.configuration",
            target=node,
            detail={"release": release.version, "created": created},
        )
    return row
