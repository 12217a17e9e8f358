"""Attest lab nodes end to end: fresh nonce -> agent quote -> verify -> compare with prediction.

Quote checks are the production ones (``apps.attestation.tcg.quote.verify_quote``: signature by
the enrolled AK, magic, type, nonce, selection, PCR digest); then the event log must replay to
the quoted PCRs, and the PCRs must equal one of the node's acceptable sets.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from heatsite_agent.client import AgentError

from apps.attestation.enrolment import check_ak_attributes
from apps.attestation.predict import (
    Divergence,
    Prediction,
    PredictionError,
    explain,
    parse_eventlog,
    replay,
)
from apps.attestation.tcg import quote as tcg_quote
from apps.attestation.tcg.quote import AkPublic, QuoteResult

from .node import LabTpmNode, approved_variants

QUOTE_SELECTION = {"sha256": tuple(range(8))}


class QuoteInvalid(ValueError):
    """The quote is not valid evidence (bad signature, nonce, selection, digest, structure)."""


def verify_quote(
    ak: AkPublic, attest: bytes, signature: bytes, nonce: bytes, pcr_values: Mapping[int, str]
) -> QuoteResult:
    """Check a sha256 PCR0-7 quote against our nonce and the claimed PCR values."""
    try:
        values = {"sha256": {p: bytes.fromhex(v) for p, v in pcr_values.items()}}
    except (ValueError, AttributeError):
        raise QuoteInvalid("PCR values are not hex") from None
    try:
        return tcg_quote.verify_quote(ak, attest, signature, nonce, values, QUOTE_SELECTION)
    except tcg_quote.QuoteError as exc:
        raise QuoteInvalid(str(exc)) from None
    except KeyError:
        raise QuoteInvalid("PCR values do not cover the quoted selection") from None


@dataclass
class Attestation:
    """The outcome of attesting one node."""

    node: str
    verdict: str  # trusted | mismatch | invalid | unreachable
    reason: str = ""
    divergences: list[Divergence] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class EnrolledNode:
    """What the verifier holds about a node: how to reach it, its AK, its golden values."""

    node: LabTpmNode
    ak: AkPublic
    acceptable: list[dict[int, str]]
    prediction: Prediction


def enrol(node: LabTpmNode) -> EnrolledNode:
    """Enrol a lab node (AK proven to live with the EK) and compute its acceptable PCR sets."""
    from apps.attestation.enrolment import make_credential
    from apps.attestation.predict import acceptable_pcr_sets, predict

    from .node import LAB_FIRMWARE_VERSIONS, base_configuration, lab_release

    client = node.client()
    ident = client.identity()
    check_ak_attributes(ident.ak_public)
    ak = tcg_quote.parse_public(ident.ak_public)
    blob, secret = make_credential(ident.ek_public, ident.ak_name)
    if client.activate(blob) != secret:
        raise QuoteInvalid("credential activation returned the wrong secret")
    release = lab_release(LAB_FIRMWARE_VERSIONS[0])
    config = base_configuration()
    acceptable = acceptable_pcr_sets(node.profile, release, config, approved_variants())
    return EnrolledNode(node, ak, acceptable, predict(node.profile, release, config))


def attest(enrolled: EnrolledNode) -> Attestation:
    """One attestation round for one node."""
    start = time.perf_counter()
    name = enrolled.node.name
    nonce = os.urandom(32)
    try:
        evidence = enrolled.node.client().quote(nonce)
    except AgentError as exc:
        return Attestation(name, "unreachable", str(exc), seconds=time.perf_counter() - start)
    pcrs = evidence.pcrs.get("sha256", {})
    try:
        verify_quote(enrolled.ak, evidence.attest, evidence.signature, nonce, pcrs)
    except QuoteInvalid as exc:
        return Attestation(name, "invalid", str(exc), seconds=time.perf_counter() - start)
    quoted = {p: pcrs[p] for p in range(8)}
    try:
        events, locality = parse_eventlog(evidence.eventlog)
        replayed = replay(events, ["sha256"], range(8), locality)["sha256"]
    except PredictionError as exc:
        return Attestation(
            name, "invalid", f"event log unreadable: {exc}", seconds=time.perf_counter() - start
        )
    if replayed != quoted:
        bad = ", ".join(f"PCR{p}" for p in range(8) if replayed[p] != quoted[p])
        return Attestation(
            name,
            "invalid",
            f"event log does not replay to the quote ({bad})",
            seconds=time.perf_counter() - start,
        )
    if quoted in enrolled.acceptable:
        return Attestation(name, "trusted", seconds=time.perf_counter() - start)
    why = explain(enrolled.prediction, evidence.eventlog, quoted)
    reason = "; ".join(d.message for d in why)
    return Attestation(name, "mismatch", reason, why, time.perf_counter() - start)


def sweep(enrolled: Sequence[EnrolledNode], workers: int = 16) -> list[Attestation]:
    """Attest every node concurrently; results in input order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(attest, enrolled))
