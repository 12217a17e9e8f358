"""The agent's wire protocol, shared by server and client (standard library only).

HTTPS with a self-signed certificate the verifier pins by SHA-256 fingerprint, and every request
authenticated with HMAC-SHA256 under the node's enrolment token::

    X-Heatsite-Auth: ts=<unix seconds>,mac=<hex HMAC(token, METHOD\\nPATH\\nts\\n + body)>

Requests older or newer than ``MAX_SKEW`` seconds are refused. Responses need no MAC: quotes are
signed by the AK (and carry the verifier's fresh nonce), and the credential activation answer is
only meaningful to the verifier that made the challenge.
"""

from __future__ import annotations

import hashlib
import hmac
import time

AUTH_HEADER = "X-Heatsite-Auth"
MAX_SKEW = 300


def request_mac(token: bytes, method: str, path: str, ts: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of one request."""
    msg = f"{method.upper()}\n{path}\n{ts}\n".encode() + body
    return hmac.new(token, msg, hashlib.sha256).hexdigest()


def auth_header(token: bytes, method: str, path: str, body: bytes, now: float | None = None) -> str:
    """The value of the authentication header for one request."""
    ts = int(time.time() if now is None else now)
    return f"ts={ts},mac={request_mac(token, method, path, ts, body)}"


def check_auth(
    token: bytes, header: str | None, method: str, path: str, body: bytes, now: float | None = None
) -> str | None:
    """None if the header authenticates the request, else the reason for refusing it."""
    if not header:
        return "missing authentication header"
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        ts = int(fields["ts"])
        mac = fields["mac"]
    except (KeyError, ValueError):
        return "malformed authentication header"
    current = time.time() if now is None else now
    if abs(current - ts) > MAX_SKEW:
        return "request timestamp outside the allowed window"
    if not hmac.compare_digest(mac, request_mac(token, method, path, ts, body)):
        return "bad request MAC"
    return None


def fingerprint(cert_der: bytes) -> str:
    """SHA-256 fingerprint (hex) of a DER certificate, as the verifier pins it."""
    return hashlib.sha256(cert_der).hexdigest()
