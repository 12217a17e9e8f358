"""Redfish transport: pinned TLS, cached sessions, bounded requests, errors as `BmcError`.

**TLS is verified by pinning.** BMC certificates are self-signed, so a CA chain proves nothing;
what Heatsite trusts is the exact certificate an engineer accepted (its SHA-256 fingerprint,
recorded on first contact through `fetch_certificate`). `PinnedAdapter` is a requests
``HTTPAdapter`` mounted on the session sushy uses: every connection it opens hands urllib3 the
pinned fingerprint (``assert_fingerprint``), and urllib3 compares it with the presented
certificate right after the handshake, before a byte of the request is written. Chain and host
name checks are replaced by that comparison (a fingerprint match is stronger: it admits exactly
one certificate), which is why the adapter sets ``cert_reqs`` itself and ignores the ``verify``
argument (and ``REQUESTS_CA_BUNDLE``, with ``trust_env`` off). No fingerprint, no connection:
`BmcError("certificate_unknown")`; another certificate: `BmcError("certificate_changed")`.

**Sessions.** One sushy client per BMC account and pinned fingerprint per process, in a bounded
LRU; an evicted client logs out (``DELETE`` of its ``X-Auth-Token`` session). sushy's
``SessionOrBasicAuth`` (as `SessionFirstAuth`) creates a session, falls back to basic auth only
when the BMC has no session service, and logs in again once when a request gets 401.
Connections are kept alive (sushy asks for ``Connection: close`` by default; a sweep would pay
a TCP and TLS handshake per request). After ``fork()`` the child starts with an empty cache: the
parent's sockets and sessions are the parent's.

**Bounds.** Connect and read timeouts are ``timeout`` seconds each; a connection error is not
retried inside a call, a server-side error (5xx) on a GET is retried once.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import hashlib
import json
import logging
import os
import socket
import ssl
import threading
from typing import Any

import requests
import sushy
import urllib3
from requests.adapters import HTTPAdapter
from sushy import auth as sushy_auth
from sushy import connector as sushy_connector
from sushy import exceptions as sushy_exc

from apps.hardware.drivers.base import CAUSES, BmcEndpoint, BmcError, CertificateInfo
from apps.hardware.drivers.redfish import wire

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
MAX_CLIENTS = 512
ROOT = "/redfish/v1/"
FINGERPRINT_MISMATCH = "Fingerprints did not match"
FAST_HEADERS = {"OData-Version": "4.0", "Accept-Encoding": "identity"}  # as sushy sends


# --- TLS ---------------------------------------------------------------------------------


def _pinning_context() -> ssl.SSLContext:
    """TLS 1.2+; the certificate is checked by fingerprint (see module docstring), not chain."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_context: ssl.SSLContext | None = None


def _shared_context() -> ssl.SSLContext:
    """One pinning context for every adapter of the process: it holds no per-BMC state (the
    pin is per connection pool), and each context costs OpenSSL memory (tens of KiB)."""
    global _context
    if _context is None:
        _context = _pinning_context()
    return _context


class PinnedAdapter(HTTPAdapter):
    """Opens HTTPS connections only to a peer presenting the certificate with ``fingerprint``."""

    def __init__(self, fingerprint: str, **kwargs: Any):
        if not fingerprint:
            raise BmcError("certificate_unknown")
        self.fingerprint = fingerprint
        self.context = _shared_context()
        super().__init__(**kwargs)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, True, cert)
        if host_params.get("scheme") != "https":
            raise BmcError("bad_request", "Heatsite speaks Redfish over HTTPS only.")
        for key in ("ca_certs", "ca_cert_dir"):
            pool_kwargs.pop(key, None)
        pool_kwargs["ssl_context"] = self.context
        pool_kwargs["cert_reqs"] = self.context.verify_mode
        pool_kwargs["assert_fingerprint"] = self.fingerprint
        return host_params, pool_kwargs

    def close(self) -> None:
        # urllib3 2 no longer closes a PoolManager's pools on clear(): their kept-alive sockets
        # would stay open until garbage-collected; a logged-out client closes them now
        pools = self.poolmanager.pools
        for key in list(pools.keys()):
            pool = pools.get(key)
            if pool is not None:
                pool.close()
        super().close()

    def cert_verify(self, conn, url, verify, cert):
        # requests would put CA-chain verification back on the pool; the pin replaces it
        conn.cert_reqs = self.context.verify_mode
        conn.ca_certs = None
        conn.ca_cert_dir = None
        conn.assert_fingerprint = self.fingerprint


def fetch_certificate(
    host: str, port: int = 443, timeout: float = DEFAULT_TIMEOUT
) -> CertificateInfo:
    """The certificate ``host:port`` presents (fingerprint, subject, validity), sending nothing.

    For the first-contact flow: the engineer compares and accepts the fingerprint; only then does
    the driver talk to the BMC.
    """
    from cryptography import x509

    context = _pinning_context()
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except TimeoutError as exc:
        raise BmcError("timeout", _explain("timeout", str(exc))) from exc
    except ssl.SSLError as exc:
        raise BmcError("protocol", f"TLS handshake with the BMC failed ({exc}).") from exc
    except OSError as exc:
        raise BmcError("unreachable", _explain("unreachable", str(exc))) from exc
    if not der:
        raise BmcError("protocol", "The BMC presented no certificate.")
    fingerprint = hashlib.sha256(der).hexdigest()
    try:
        parsed = x509.load_der_x509_certificate(der)
    except ValueError:
        return CertificateInfo(fingerprint, "", "", None, None)
    return CertificateInfo(
        fingerprint=fingerprint,
        subject=parsed.subject.rfc4514_string(),
        issuer=parsed.issuer.rfc4514_string(),
        not_before=parsed.not_valid_before_utc.astimezone(datetime.UTC),
        not_after=parsed.not_valid_after_utc.astimezone(datetime.UTC),
    )


@dataclasses.dataclass(frozen=True)
class ServiceRoot:
    """What an unauthenticated look at ``/redfish/v1/`` tells (for protocol "auto")."""

    certificate: CertificateInfo
    redfish_version: str
    vendor: str
    product: str
    uuid: str


def probe(host: str, port: int = 443, timeout: float = DEFAULT_TIMEOUT) -> ServiceRoot | None:
    """Does ``host:port`` speak Redfish? The service root, read without credentials over the
    certificate presented right now; None when nothing there answers like a Redfish service.

    Detection only: the certificate is *shown* (to be accepted by an engineer), not trusted;
    nothing but the public service root is asked for. Raises `BmcError` only for ``bad_request``.
    """
    try:
        certificate = fetch_certificate(host, port, timeout)
    except BmcError:
        return None
    with requests.Session() as session:
        session.trust_env = False
        session.mount("https://", PinnedAdapter(certificate.fingerprint, max_retries=0))
        session.mount("http://", PinnedAdapter(certificate.fingerprint, max_retries=0))
        try:
            response = session.get(
                f"https://{_host(host)}:{port}{ROOT}",
                timeout=(timeout, timeout),
                headers={"Accept": "application/json", "OData-Version": "4.0"},
                allow_redirects=False,
                verify=True,  # ignored by PinnedAdapter: the fingerprint decides
            )
            body = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None
    if not isinstance(body, dict) or "RedfishVersion" not in body:
        return None
    return ServiceRoot(
        certificate=certificate,
        redfish_version=str(body.get("RedfishVersion") or ""),
        vendor=str(body.get("Vendor") or ""),
        product=str(body.get("Product") or ""),
        uuid=str(body.get("UUID") or ""),
    )


# --- errors ------------------------------------------------------------------------------


def _explain(cause: str, detail: str = "") -> str:
    text = CAUSES[cause][1]
    return f"{text} ({detail})" if detail else text


def bmc_says(error: sushy_exc.HTTPError) -> str:
    """The BMC's own words: every ``@Message.ExtendedInfo`` message, else the error message."""
    messages = []
    for info in getattr(error, "extended_info", None) or []:
        if isinstance(info, dict) and info.get("Message"):
            messages.append(str(info["Message"]).strip())
    if not messages:
        body = getattr(error, "body", None)
        if isinstance(body, dict) and body.get("message"):
            messages.append(str(body["message"]).strip())
    return " ".join(m if m.endswith(".") else m + "." for m in messages)


def _message_ids(error: sushy_exc.HTTPError) -> str:
    ids = [str(i.get("MessageId", "")) for i in getattr(error, "extended_info", None) or []]
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        ids.append(str(body.get("code", "")))
    return " ".join(ids)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def map_error(exc: BaseException) -> BmcError:
    """Translate what sushy/requests raised into a `BmcError` the engineer can act on."""
    if isinstance(exc, BmcError):
        return exc
    chain = _chain(exc)
    for item in chain:
        if isinstance(item, BmcError):
            return item
    if isinstance(exc, sushy_exc.HTTPError):
        return _http_error(exc)
    if isinstance(exc, sushy_exc.ConnectionError | requests.RequestException):
        text = " ".join(str(item) for item in chain)
        if FINGERPRINT_MISMATCH in text:
            return BmcError("certificate_changed")
        if any(isinstance(i, requests.exceptions.SSLError | ssl.SSLError) for i in chain):
            return BmcError("protocol", f"TLS with the BMC failed: {exc}")
        if any(isinstance(i, requests.exceptions.ReadTimeout | TimeoutError) for i in chain):
            return BmcError("timeout", _explain("timeout", str(exc)))
        return BmcError("unreachable", _explain("unreachable", str(exc)))
    if isinstance(exc, sushy_exc.MissingAttributeError | sushy_exc.MissingActionError):
        return BmcError("not_supported", f"{CAUSES['not_supported'][1]} ({exc})")
    if isinstance(exc, ValueError | KeyError | TypeError | sushy_exc.SushyError):
        return BmcError("protocol", f"{CAUSES['protocol'][1]} ({exc})")
    if isinstance(exc, OSError):
        return BmcError("unreachable", _explain("unreachable", str(exc)))
    return BmcError("protocol", f"{CAUSES['protocol'][1]} ({type(exc).__name__}: {exc})")


def _http_error(exc: sushy_exc.HTTPError) -> BmcError:
    status = exc.status_code
    ids = _message_ids(exc)
    said = bmc_says(exc)
    if "SessionLimitExceeded" in ids:
        cause, transient = "no_session_slot", True
    elif status in (401, 403):
        cause, transient = "bad_credentials", False
    elif status in (404, 405, 501):
        cause, transient = "not_supported", False
    elif status == 409 or "InvalidOperationForSystemState" in ids:
        cause, transient = "bad_power_state", False
    elif status == 503:
        cause, transient = "timeout", True  # busy or rebooting: a retry later can help
    elif status >= 500:
        cause, transient = "protocol", True
    elif status in (400, 412, 422):
        cause, transient = "bad_request", False
    else:
        cause, transient = "protocol", False
    text = f"{CAUSES[cause][1]} (HTTP {status})"
    if said:
        text = f"{text} The BMC says: {said}"
    return BmcError(cause, text, transient=transient)


# --- clients -----------------------------------------------------------------------------


class SessionFirstAuth(sushy_auth.SessionOrBasicAuth):
    """sushy's ``SessionOrBasicAuth``, except that a session service that is full or failing
    (5xx, e.g. ``SessionLimitExceeded``) is an error, not a reason to fall back to basic auth:
    basic auth is for BMCs without a session service (sushy's fallback on 401/404/405 there)."""

    def _do_authenticate(self):
        try:
            sushy_auth.SessionAuth._do_authenticate(self)
        except (sushy_exc.ServerSideError, sushy_exc.ConnectionError):
            raise
        except sushy_exc.AccessError:
            if self.can_refresh_session() or self._session_auth_previously_successful:
                raise
            self._fallback_to_basic_authentication()
        except sushy_exc.SushyError:  # no session service (404, 405, no token): basic auth
            self._fallback_to_basic_authentication()


@dataclasses.dataclass
class Client:
    """One logged-in sushy client (its connector does the HTTP) and what it learned."""

    root: sushy.Sushy
    password: str
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    cache: dict[str, Any] = dataclasses.field(default_factory=dict)  # stable paths → JSON
    pool: Any = None  # the pinned urllib3 pool `get_json` uses (the one requests uses too)
    sent: dict[str, bytes] = dataclasses.field(default_factory=dict)  # fast GETs, as bytes
    sent_headers: dict[str, str] | None = None  # the headers `sent` was built with

    @property
    def connector(self) -> sushy_connector.Connector:
        return self.root._conn

    def get_json(self, path: str) -> Any:
        """GET ``path`` and parse its JSON; the readings' hot path.

        A 200 is read straight off a pinned, kept-alive connection of the urllib3 pool that the
        session's `PinnedAdapter` keeps for this BMC (`wire`: same connections, headers and
        credentials), without requests', sushy's and http.client's per-request machinery, which
        cost more CPU than the request itself (one process sweeping the lab: 297 → 663 polls/s
        with urllib3's ``urlopen``, more with `wire`). Any other answer is asked again through
        sushy, which logs in again on 401, retries a 5xx and turns errors into its exceptions."""
        connector = self.connector
        session = connector._session
        if self.pool is None:
            prepared = requests.Request("GET", connector._url).prepare()
            adapter = session.get_adapter(connector._url)
            self.pool = adapter.get_connection_with_tls_context(prepared, verify=True)
            adapter.cert_verify(self.pool, connector._url, True, None)
        headers = {**session.headers, **FAST_HEADERS}
        if session.auth:  # basic auth (a BMC without sessions)
            headers.update(urllib3.util.make_headers(basic_auth=":".join(session.auth)))
        if headers != self.sent_headers:  # a new token after a re-login: new bytes
            self.sent.clear()
            self.sent_headers = headers
        request = self.sent.get(path)
        if request is None:
            if len(self.sent) > 64:
                self.sent.clear()
            netloc = connector._url.split("://", 1)[1].rstrip("/")
            request = self.sent[path] = wire.request_bytes(path, netloc, headers)
        try:
            body = wire.get(
                self.pool,
                request,
                connect_timeout=connector._connect_timeout,
                read_timeout=connector._default_request_timeout,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise sushy_exc.ConnectionError(url=path, error=exc) from exc
        if body is None:
            return connector.get(path).json()
        return json.loads(body)

    def uses_session(self) -> bool:
        return getattr(self.root._auth, "get_session_key", lambda: None)() is not None

    def close(self) -> None:
        auth, self.root._auth = self.root._auth, None  # sushy's __del__ would close it again
        try:
            if auth is not None:
                auth.close()  # DELETE of the session, when there is one
        except Exception as exc:  # logging out is best effort
            log.debug("Redfish logout failed: %s", exc)
        finally:
            self.connector.close()


_clients: collections.OrderedDict[tuple, Client] = collections.OrderedDict()
_clients_lock = threading.Lock()
max_clients = MAX_CLIENTS


def _forget_after_fork() -> None:
    """In a forked child: drop the parent's clients without logging out (their sessions and
    sockets are the parent's; sushy would log out when the objects are collected)."""
    global _clients_lock
    for entry in _clients.values():
        entry.root._auth = None
    _clients.clear()
    _clients_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def cached_clients() -> int:
    return len(_clients)


def close_all() -> None:
    """Log out and forget every cached client of this process (shutdown, tests)."""
    with _clients_lock:
        entries = list(_clients.values())
        _clients.clear()
    for entry in entries:
        entry.close()


def _key(endpoint: BmcEndpoint) -> tuple:
    return (*endpoint.key, endpoint.tls_fingerprint)


def forget(endpoint: BmcEndpoint, client: Client | None = None) -> None:
    """Drop the cached client for ``endpoint`` (only if it is still ``client`` when given)."""
    with _clients_lock:
        current = _clients.get(_key(endpoint))
        if current is None or (client is not None and current is not client):
            return
        del _clients[_key(endpoint)]
    current.close()


def client_for(endpoint: BmcEndpoint, timeout: float) -> tuple[Client, bool]:
    """The cached client (reused=True) or a freshly logged-in one (reused=False)."""
    if not endpoint.tls_fingerprint:
        raise BmcError("certificate_unknown")
    key = _key(endpoint)
    with _clients_lock:
        entry = _clients.get(key)
        if entry is not None and entry.password == endpoint.password:
            _clients.move_to_end(key)
            return entry, True
    if entry is not None:
        forget(endpoint, entry)
    fresh = Client(root=_login(endpoint, timeout), password=endpoint.password)
    evicted: list[Client] = []
    with _clients_lock:
        previous = _clients.get(key)
        if previous is not None and previous.password == endpoint.password:
            evicted.append(fresh)  # another thread logged in meanwhile: one client per BMC
            fresh = previous
        else:
            _clients[key] = fresh
        while len(_clients) > max(1, max_clients):
            evicted.append(_clients.popitem(last=False)[1])
    for entry in evicted:
        entry.close()
    return fresh, False


def make_connector(endpoint: BmcEndpoint, timeout: float) -> sushy_connector.Connector:
    """A sushy connector whose session only talks to the pinned certificate, keeping alive."""
    base_url = f"https://{_host(endpoint.host)}:{endpoint.port}"
    connector = sushy_connector.Connector(
        base_url,
        verify=True,  # ignored by PinnedAdapter; never a CA bundle from the environment
        server_side_retries=1,
        server_side_retries_delay=0.5,
        default_request_timeout=timeout,
        connect_timeout=timeout,
    )
    session = connector._session
    session.trust_env = False  # no REQUESTS_CA_BUNDLE, proxies or .netrc for BMCs
    adapter = PinnedAdapter(endpoint.tls_fingerprint, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)  # refuses plain HTTP (see build_connection_pool_key_…)
    session.headers.pop("Connection", None)  # sushy's default "close": keep connections alive
    return connector


def _login(endpoint: BmcEndpoint, timeout: float) -> sushy.Sushy:
    connector = make_connector(endpoint, timeout)
    try:
        return sushy.Sushy(
            connector._url,
            auth=SessionFirstAuth(username=endpoint.username, password=endpoint.password),
            connector=connector,
            root_prefix=ROOT,
        )
    except Exception as exc:
        connector.close()
        raise map_error(exc) from exc


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
