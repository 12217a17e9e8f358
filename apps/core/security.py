"""Browser hardening: a strict Content-Security-Policy with a per-request nonce, and the
headers Django's SecurityMiddleware does not send (Permissions-Policy, CORP).

Scripts run only from our own origin or with this request's nonce: no inline script, no
inline event handler, no ``eval`` (htmx is configured without it, see templates/base.html).
Styles allow ``'unsafe-inline'``: Plotly and xterm.js write ``<style>`` elements at run time
and cannot carry a nonce; styles cannot run code. Pages are never framed (``frame-ancestors
'none'``), forms post only to us, websockets reach only our own origin (``'self'`` covers
``ws:``/``wss:`` of the same host in CSP Level 3).

Templates reach the nonce as ``{{ request.csp_nonce }}`` (or ``{{ csp_nonce }}``); an inline
script that really must stay carries ``nonce="{{ csp_nonce }}"``.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.utils.deprecation import MiddlewareMixin

# directive -> sources; "{nonce}" is replaced by the request's nonce.
DEFAULT_POLICY: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    "script-src": ("'self'", "'nonce-{nonce}'"),
    "style-src": ("'self'", "'unsafe-inline'"),
    "img-src": ("'self'", "data:", "blob:"),
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "worker-src": ("'self'", "blob:"),
    "object-src": ("'none'",),
    "base-uri": ("'none'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}

# Features no page uses are switched off; WebAuthn (passkeys) stays allowed for our origin.
DEFAULT_PERMISSIONS_POLICY: dict[str, str] = {
    "accelerometer": "()",
    "camera": "()",
    "geolocation": "()",
    "gyroscope": "()",
    "magnetometer": "()",
    "microphone": "()",
    "payment": "()",
    "usb": "()",
    "fullscreen": "(self)",
    "publickey-credentials-create": "(self)",
    "publickey-credentials-get": "(self)",
}


def policy() -> dict[str, tuple[str, ...]]:
    """The CSP directives in force (``HEATSITE_CSP`` overrides single directives)."""
    return DEFAULT_POLICY | dict(getattr(settings, "HEATSITE_CSP", {}))


def csp_header(nonce: str) -> str:
    directives = [
        f"{name} {' '.join(source.format(nonce=nonce) for source in sources)}"
        for name, sources in policy().items()
    ]
    if getattr(settings, "HEATSITE_CSP_UPGRADE_INSECURE", False):
        directives.append("upgrade-insecure-requests")
    return "; ".join(directives)


def permissions_policy_header() -> str:
    return ", ".join(f"{name}={allow}" for name, allow in DEFAULT_PERMISSIONS_POLICY.items())


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


class SecurityHeadersMiddleware(MiddlewareMixin):
    """Gives each request a CSP nonce and sets the CSP, Permissions-Policy and CORP headers.

    Place it first in MIDDLEWARE, before django.middleware.security.SecurityMiddleware
    (nosniff, HSTS, Referrer-Policy, COOP, SSL redirect), so every answer, errors and the
    HTTPS redirect included, carries the headers.
    """

    def process_request(self, request):
        request.csp_nonce = new_nonce()

    def process_response(self, request, response):
        nonce = getattr(request, "csp_nonce", None) or new_nonce()
        response.headers.setdefault("Content-Security-Policy", csp_header(nonce))
        response.headers.setdefault("Permissions-Policy", permissions_policy_header())
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        # One opener policy for every answer: drf-spectacular's Swagger view asks for
        # "unsafe-none" (for OAuth pop-ups Heatsite does not use).
        if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
            response.headers["Cross-Origin-Opener-Policy"] = (
                settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
            )
        return response


def nonce_context(request) -> dict:
    """Template context processor: ``{{ csp_nonce }}``."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
