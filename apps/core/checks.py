"""Heatsite's own system checks for a production start (decision 25).

Django's ``check --deploy`` covers HSTS, SSL redirect, Secure cookies, DEBUG, SECRET_KEY and
ALLOWED_HOSTS; it knows nothing of the Content-Security-Policy, cookie prefixes, session limits
or who may read the API documentation. These do. The shared-cache check is
apps.identity.checks'. ``manage.py check --deploy --fail-level WARNING`` must pass in
production (tests/core/test_deploy_checks.py runs it with production settings).
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.permissions import AllowAny

CSP_MIDDLEWARE = "apps.core.security.SecurityHeadersMiddleware"
SESSION_LIMITS_MIDDLEWARE = "apps.identity.session_limits.SessionLimitsMiddleware"
STAFF_ROLES = ("engineer", "admin")
STAFF_IDLE_MAX = 30 * 60
STAFF_ABSOLUTE_MAX = 12 * 3600
COOKIE_AGE_MAX = 7 * 24 * 3600


@register(Tags.security)
def csp_in_force(app_configs, **kwargs):
    """The CSP middleware is installed and its script policy stays strict (every start)."""
    from apps.core.security import policy

    problems = []
    if CSP_MIDDLEWARE not in settings.MIDDLEWARE:
        problems.append(
            Error(
                "The Content-Security-Policy middleware is not installed.",
                hint=f"Add {CSP_MIDDLEWARE!r} first in MIDDLEWARE.",
                id="heatsite.E001",
            )
        )
    directives = policy()
    script_src = directives.get("script-src", directives.get("default-src", ()))
    loose = sorted({"'unsafe-inline'", "'unsafe-eval'", "*", "data:"} & set(script_src))
    if loose:
        problems.append(
            Error(
                f"The Content-Security-Policy allows {', '.join(loose)} in script-src.",
                hint="Move the script to a static file or give it the request's nonce.",
                id="heatsite.E002",
            )
        )
    if directives.get("frame-ancestors") != ("'none'",):
        problems.append(
            Error(
                "The Content-Security-Policy lets other sites frame Heatsite.",
                hint="Keep frame-ancestors 'none'.",
                id="heatsite.E003",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def debug_off(app_configs, **kwargs):
    if settings.DEBUG:
        return [
            Warning(
                "DEBUG is on: tracebacks, settings and the lab's demo firmware key are exposed.",
                hint="Set DEBUG=0 in production.",
                id="heatsite.W001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def cookies_host_only(app_configs, **kwargs):
    """Session and CSRF cookies bound to this exact host over HTTPS (``__Host-``)."""
    problems = []
    for kind in ("SESSION", "CSRF"):
        name = getattr(settings, f"{kind}_COOKIE_NAME")
        bad = []
        if not name.startswith("__Host-"):
            bad.append("its name lacks the __Host- prefix")
        if not getattr(settings, f"{kind}_COOKIE_SECURE"):
            bad.append("it is not Secure")
        if not getattr(settings, f"{kind}_COOKIE_HTTPONLY"):
            bad.append("scripts can read it")
        if getattr(settings, f"{kind}_COOKIE_SAMESITE") not in ("Lax", "Strict"):
            bad.append("it is sent on cross-site requests")
        if getattr(settings, f"{kind}_COOKIE_DOMAIN", None) or (
            getattr(settings, f"{kind}_COOKIE_PATH", "/") != "/"
        ):
            bad.append("it has a Domain or a Path other than /")
        if bad:
            problems.append(
                Warning(
                    f"The {kind.lower()} cookie {name!r}: {'; '.join(bad)}.",
                    hint="Serve over HTTPS (HTTPS=1, the default when DEBUG is off).",
                    id="heatsite.W002",
                )
            )
    return problems


@register(Tags.security, deploy=True)
def session_lifetimes(app_configs, **kwargs):
    """Staff sessions end after 30 idle minutes and 12 hours; no cookie outlives a week."""
    problems = []
    if SESSION_LIMITS_MIDDLEWARE not in settings.MIDDLEWARE:
        problems.append(
            Warning(
                "Session idle and absolute limits are not enforced.",
                hint=f"Add {SESSION_LIMITS_MIDDLEWARE!r} to MIDDLEWARE.",
                id="heatsite.W003",
            )
        )
    limits = getattr(settings, "HEATSITE_SESSION_LIMITS", {})
    for role in STAFF_ROLES:
        idle, absolute = limits.get(role, (None, None))
        if idle is None or idle > STAFF_IDLE_MAX or absolute > STAFF_ABSOLUTE_MAX:
            problems.append(
                Warning(
                    f"{role.capitalize()} sessions last longer than 30 idle minutes or 12 hours"
                    f" (HEATSITE_SESSION_LIMITS gives {limits.get(role)}).",
                    hint="Lower HEATSITE_SESSION_LIMITS for the role.",
                    id="heatsite.W004",
                )
            )
    if settings.SESSION_COOKIE_AGE > COOKIE_AGE_MAX:
        problems.append(
            Warning(
                f"Session cookies last {settings.SESSION_COOKIE_AGE} s, more than a week.",
                hint="SESSION_COOKIE_AGE follows the longest absolute session limit.",
                id="heatsite.W005",
            )
        )
    return problems


def _doc_views(patterns):
    from drf_spectacular.views import (
        SpectacularAPIView,
        SpectacularRedocView,
        SpectacularSwaggerView,
    )

    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _doc_views(entry.url_patterns)
        elif isinstance(entry, URLPattern):
            cls = getattr(entry.callback, "cls", None) or getattr(
                entry.callback, "view_class", None
            )
            if isinstance(cls, type) and issubclass(
                cls, (SpectacularAPIView, SpectacularSwaggerView, SpectacularRedocView)
            ):
                yield entry, entry.callback


@register(Tags.security, deploy=True)
def api_docs_not_public(app_configs, **kwargs):
    """The OpenAPI schema and Swagger UI answer only to signed-in users."""
    problems = []
    for entry, callback in _doc_views(get_resolver().url_patterns):
        view = callback.cls(**(callback.initkwargs or {}))
        permissions = view.get_permissions()
        if not permissions or any(isinstance(p, AllowAny) for p in permissions):
            problems.append(
                Warning(
                    f"The API documentation at {entry.pattern} is public.",
                    hint="SPECTACULAR_SETTINGS['SERVE_PERMISSIONS'] must require a login.",
                    id="heatsite.W006",
                )
            )
    return problems


@register(Tags.security, deploy=True)
def hosts_listed(app_configs, **kwargs):
    """No wildcard host: it would also let any web page open Heatsite's websockets (the
    websocket origin check, heatsite/asgi.py, accepts the ALLOWED_HOSTS)."""
    if "*" in settings.ALLOWED_HOSTS:
        return [
            Warning(
                "ALLOWED_HOSTS contains '*': any site's pages may open Heatsite's websockets.",
                hint="List the console's host names in ALLOWED_HOSTS.",
                id="heatsite.W007",
            )
        ]
    return []
