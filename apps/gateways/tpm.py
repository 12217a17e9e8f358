"""TPM agent calls run by the site gateway: quotes and enrolment's two steps, asked of its own
site's node agents and answered as raw evidence. No Django here.

The gateway decides nothing about trust: the central side made the nonce, makes the credential
to activate, and verifies what comes back (`apps.gateways.quotes`). What the gateway opens (the
agents' addresses and tokens) was sealed to it for one call.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from heatsite_agent.client import AgentClient, AgentError

from apps.gateways import crypto, wire

logger = logging.getLogger("heatsite.gateway")


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode("ascii") if data is not None else None


def _client(agent: dict[str, Any], timeout: float) -> AgentClient:
    return AgentClient(
        agent["host"],
        int(agent["port"]),
        base64.b64decode(agent["token"]),
        agent["cert_fingerprint"],
        timeout=timeout,
    )


def _asked(agent: dict[str, Any], ask: Callable[[AgentClient], dict[str, Any]], timeout: float):
    """One agent's answer as plain data: what it sent, or why it could not be had."""
    start = time.perf_counter()
    answer: dict[str, Any] = {"node_id": agent["node_id"]}
    try:
        answer.update(ok=True, **ask(_client(agent, timeout)))
    except AgentError as error:
        answer.update(ok=False, error=str(error), transient=error.transient)
    except Exception as error:
        logger.exception("agent of node %s failed unexpectedly", agent["node_id"])
        error_text = f"the gateway failed ({type(error).__name__})"
        answer.update(ok=False, error=error_text, transient=True)
    answer["ms"] = round((time.perf_counter() - start) * 1000, 2)
    return answer


def quote_ask(nonce: str, pcrs: list[int]) -> Callable[[AgentClient], dict[str, Any]]:
    def ask(client: AgentClient) -> dict[str, Any]:
        evidence = client.quote(bytes.fromhex(nonce), tuple(pcrs))
        return {
            "attest": _b64(evidence.attest),
            "signature": _b64(evidence.signature),
            "pcrs": {b: {str(p): v for p, v in vals.items()} for b, vals in evidence.pcrs.items()},
            "eventlog": _b64(evidence.eventlog),
        }

    return ask


def identity_ask(client: AgentClient) -> dict[str, Any]:
    ident = client.identity()
    return {
        "ek_public": _b64(ident.ek_public),
        "ek_certificate": _b64(ident.ek_certificate),
        "ak_public": _b64(ident.ak_public),
        "ak_name": ident.ak_name.hex(),
    }


def activate_ask(blob: str) -> Callable[[AgentClient], dict[str, Any]]:
    def ask(client: AgentClient) -> dict[str, Any]:
        return {"secret": _b64(client.activate(base64.b64decode(blob)))}

    return ask


def _run(gateway: Any, call: dict[str, Any], kind: str) -> int:
    """Opens the call, asks each agent (at most ``concurrency`` at once), answers once."""
    if not gateway._valid(call) or time.time() > float(call["start_by"]):
        return 0  # too late to start: the central side records the deadline's outcome
    try:
        secret = gateway._open(call)
    except crypto.SealError:
        logger.warning("call %s does not open with this gateway's key: ignored", call["call_id"])
        return 0
    agents, timeout = secret["agents"], float(secret.get("timeout", 10.0))
    if kind == "tpm_quote":
        pcrs = [int(p) for p in secret["pcrs"]]
        asks = [quote_ask(a["nonce"], pcrs) for a in agents]
        key = "quotes"
    elif secret.get("step") == "activate":
        asks, kind, key = [activate_ask(a["blob"]) for a in agents], "tpm_activate", "answers"
    else:
        asks, kind, key = [identity_ask] * len(agents), "tpm_identity", "answers"
    # agents answer in milliseconds or time out: I/O bound, as the BMC sweep
    workers = min(gateway.config.concurrency * 4, max(len(agents), 1))
    with ThreadPoolExecutor(workers) as pool:
        pairs = zip(agents, asks, strict=True)
        answers = list(pool.map(lambda pair: _asked(pair[0], pair[1], timeout), pairs))
    gateway.publish(kind, call["call_id"], {key: answers})
    return len(answers)


def register(app: Any, gateway: Any) -> None:
    """The gateway's TPM tasks, on its own Celery ``app``."""

    @app.task(name=wire.TPM_QUOTE_TASK, shared=False)
    def tpm_quote(call: dict[str, Any]) -> int:
        return _run(gateway, call, "tpm_quote")

    @app.task(name=wire.TPM_ENROL_TASK, shared=False)
    def tpm_enrol(call: dict[str, Any]) -> int:
        return _run(gateway, call, "tpm_enrol")
