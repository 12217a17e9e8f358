"""Verifier-side client of the agent (standard library only): pinned TLS + HMAC requests."""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import ssl
from dataclasses import dataclass

from .protocol import AUTH_HEADER, auth_header, fingerprint


class AgentError(Exception):
    """The agent could not be reached or refused; ``transient`` says whether to retry."""

    def __init__(self, message: str, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class QuoteEvidence:
    """What a node returns for one quote request."""

    attest: bytes
    signature: bytes
    pcrs: dict[str, dict[int, str]]
    eventlog: bytes


@dataclass(frozen=True)
class AgentIdentity:
    """What a node reports at enrolment."""

    ek_public: bytes
    ek_certificate: bytes | None
    ak_public: bytes
    ak_name: bytes


class AgentClient:
    """Talks to one agent. ``cert_fingerprint`` is the pinned SHA-256 of its TLS certificate."""

    def __init__(
        self, host: str, port: int, token: bytes, cert_fingerprint: str, timeout: float = 30.0
    ) -> None:
        self.host, self.port, self.token = host, port, token
        self.cert_fingerprint = cert_fingerprint.lower().replace(":", "")
        self.timeout = timeout
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # Trust comes from the pinned fingerprint checked below, not from a CA.
        self._ctx.check_hostname = False
        self._ctx.verify_mode = ssl.CERT_NONE

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        body = json.dumps(payload).encode() if payload is not None else b""
        conn = http.client.HTTPSConnection(
            self.host, self.port, timeout=self.timeout, context=self._ctx
        )
        try:
            conn.connect()
            der = conn.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
            if not der or fingerprint(der) != self.cert_fingerprint:
                raise AgentError("agent TLS certificate does not match the pinned one", False)
            headers = {AUTH_HEADER: auth_header(self.token, method, path, body)}
            if body:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise AgentError(f"agent {self.host}:{self.port} unreachable: {exc}") from None
        finally:
            conn.close()
        try:
            data = json.loads(raw)
        except ValueError:
            raise AgentError(f"agent sent non-JSON (HTTP {resp.status})") from None
        if resp.status != 200:
            transient = resp.status >= 500 or bool(data.get("transient", False))
            raise AgentError(f"agent refused (HTTP {resp.status}): {data.get('error')}", transient)
        return data

    def identity(self) -> AgentIdentity:
        """EK public (+certificate), AK public and name."""
        d = self._call("GET", "/v1/identity")
        cert = d.get("ek_certificate")
        return AgentIdentity(
            _b(d, "ek_public"),
            base64.b64decode(cert) if cert else None,
            _b(d, "ak_public"),
            bytes.fromhex(d["ak_name"]),
        )

    def activate(self, blob: bytes) -> bytes:
        """Send a MakeCredential blob; the secret comes back only from the right TPM."""
        return _b(
            self._call("POST", "/v1/activate", {"blob": base64.b64encode(blob).decode()}), "secret"
        )

    def quote(self, nonce: bytes, pcrs: tuple[int, ...] = tuple(range(8))) -> QuoteEvidence:
        """Ask for a quote over sha256 ``pcrs`` with the verifier's fresh ``nonce``."""
        d = self._call("POST", "/v1/quote", {"nonce": nonce.hex(), "pcrs": list(pcrs)})
        try:
            pcr_values = {
                bank: {int(k): str(v) for k, v in vals.items()} for bank, vals in d["pcrs"].items()
            }
        except (KeyError, ValueError, AttributeError):
            raise AgentError("agent sent malformed PCR values", False) from None
        return QuoteEvidence(_b(d, "attest"), _b(d, "signature"), pcr_values, _b(d, "eventlog"))


def _b(d: dict, key: str) -> bytes:
    try:
        return base64.b64decode(d[key], validate=True)
    except (KeyError, TypeError, binascii.Error):
        raise AgentError(f"agent response lacks a valid {key}", False) from None
