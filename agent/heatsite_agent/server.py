"""The agent's HTTPS server: identity, credential activation, quotes (see protocol.py).

Endpoints (JSON in and out, binary fields base64, digests hex):

* ``GET  /v1/identity`` -> ``{ek_public, ek_certificate|null, ak_public, ak_name}``
* ``POST /v1/activate`` ``{blob}`` -> ``{secret}``
* ``POST /v1/quote`` ``{nonce (hex), pcrs?: [0..7]}`` ->
  ``{attest, signature, pcrs: {"sha256": {"0": hex...}}, eventlog}``
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import ssl
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .protocol import AUTH_HEADER, check_auth, fingerprint
from .tpm import AgentTpm, TpmError

log = logging.getLogger("heatsite_agent")

MAX_BODY = 64 * 1024
MAX_EVENTLOG = 4 * 1024 * 1024


@dataclass
class AgentConfig:
    """Everything one agent needs: TPM, event log file, listening address, secrets."""

    tcti: str
    eventlog_path: str = "/sys/kernel/security/tpm0/binary_bios_measurements"
    host: str = "127.0.0.1"
    port: int = 8443
    token: bytes = b""
    cert_file: str = ""
    key_file: str = ""


def ensure_certificate(cert_file: str, key_file: str, common_name: str = "heatsite-agent") -> str:
    """Create a self-signed ECDSA P-256 certificate if missing; return its SHA-256 fingerprint.

    Uses ``cryptography``, which tpm2-pytss already depends on.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = Path(cert_file), Path(key_file)
    if not cert_path.exists() or not key_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        key_bytes = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_bytes)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    der = ssl.PEM_cert_to_DER_cert(cert_path.read_text())
    return fingerprint(der)


class _Handler(BaseHTTPRequestHandler):
    server: _AgentHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _reply(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authenticated_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "bad Content-Length"})
            return None
        body = self.rfile.read(length) if length else b""
        reason = check_auth(
            self.server.agent.config.token,
            self.headers.get(AUTH_HEADER),
            self.command,
            self.path,
            body,
        )
        if reason:
            self._reply(HTTPStatus.UNAUTHORIZED, {"error": reason})
            return None
        return body

    def do_GET(self) -> None:
        if self._authenticated_body() is None:
            return
        if self.path != "/v1/identity":
            self._reply(HTTPStatus.NOT_FOUND, {"error": "unknown endpoint"})
            return
        self._run(self.server.agent.identity_payload)

    def do_POST(self) -> None:
        body = self._authenticated_body()
        if body is None:
            return
        handlers = {
            "/v1/activate": self.server.agent.activate_payload,
            "/v1/quote": self.server.agent.quote_payload,
        }
        handler = handlers.get(self.path)
        if handler is None:
            self._reply(HTTPStatus.NOT_FOUND, {"error": "unknown endpoint"})
            return
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as exc:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": f"bad JSON: {exc}"})
            return
        self._run(lambda: handler(request))

    def _run(self, fn) -> None:  # type: ignore[no-untyped-def]
        try:
            self._reply(HTTPStatus.OK, fn())
        except _BadRequest as exc:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except TpmError as exc:
            status = HTTPStatus.SERVICE_UNAVAILABLE if exc.transient else HTTPStatus.CONFLICT
            self._reply(status, {"error": str(exc), "transient": exc.transient})


class _BadRequest(Exception):
    pass


class _AgentHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    agent: Agent


class Agent:
    """One node agent: a TPM, an event log file, an HTTPS listener."""

    def __init__(self, config: AgentConfig) -> None:
        if not config.token:
            raise ValueError("an enrolment token is required")
        self.config = config
        self.tpm = AgentTpm(config.tcti)
        self._httpd: _AgentHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- request handlers (also usable in-process) ---

    def identity_payload(self) -> dict:
        ident = self.tpm.identity()
        return {
            "ek_public": _b64(ident.ek_public),
            "ek_certificate": _b64(ident.ek_certificate) if ident.ek_certificate else None,
            "ak_public": _b64(ident.ak_public),
            "ak_name": ident.ak_name.hex(),
        }

    def activate_payload(self, request: dict) -> dict:
        blob = _unb64(request.get("blob"), "blob")
        return {"secret": _b64(self.tpm.activate_credential(blob))}

    def quote_payload(self, request: dict) -> dict:
        try:
            nonce = bytes.fromhex(request.get("nonce") or "")
        except (TypeError, ValueError):
            raise _BadRequest("nonce must be hex") from None
        pcrs = request.get("pcrs", list(range(8)))
        if not isinstance(pcrs, list) or not all(
            isinstance(p, int) and not isinstance(p, bool) for p in pcrs
        ):
            raise _BadRequest("pcrs must be a list of integers")
        quote = self.tpm.quote(nonce, tuple(pcrs))
        try:
            with open(self.config.eventlog_path, "rb") as fh:
                eventlog = fh.read(MAX_EVENTLOG + 1)
        except OSError as exc:
            raise TpmError(f"cannot read event log: {exc.strerror}") from None
        if len(eventlog) > MAX_EVENTLOG:
            raise TpmError("event log too large", transient=False)
        return {
            "attest": _b64(quote.attest),
            "signature": _b64(quote.signature),
            "pcrs": {
                bank: {str(k): v for k, v in vals.items()} for bank, vals in quote.pcrs.items()
            },
            "eventlog": _b64(eventlog),
        }

    # --- lifecycle ---

    def start(self) -> int:
        """Listen (TLS) in a background thread; returns the bound port."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.config.cert_file, self.config.key_file)
        httpd = _AgentHTTPServer((self.config.host, self.config.port), _Handler)
        httpd.agent = self
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self.config.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, name=f"agent-{self.config.port}", daemon=True
        )
        self._thread.start()
        return self.config.port

    def serve_forever(self) -> None:
        """Run in the foreground until interrupted."""
        self.start()
        assert self._thread is not None
        try:
            self._thread.join()
        except KeyboardInterrupt:
            self.stop()

    def stop(self) -> None:
        """Stop listening and wait for the server thread."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise _BadRequest(f"{field} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise _BadRequest(f"{field} is not valid base64") from None
