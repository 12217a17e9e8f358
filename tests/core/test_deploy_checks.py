"""`manage.py check --deploy --fail-level WARNING` passes with production settings, and
Heatsite's own checks (apps/core/checks.py) catch what Django's do not (issue 13, item 8)."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from apps.core import checks
from tests.core.production import manage


def test_deploy_check_passes_with_production_settings():
    done = manage("check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def ids(problems) -> list[str]:
    return sorted(p.id for p in problems)


def test_the_csp_check_refuses_a_missing_middleware_and_a_loose_script_policy(settings):
    assert checks.csp_in_force(None) == []
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != checks.CSP_MIDDLEWARE]
    settings.HEATSITE_CSP = {
        "script-src": ("'self'", "'unsafe-inline'"),
        "frame-ancestors": ("'self'",),
    }
    assert ids(checks.csp_in_force(None)) == ["heatsite.E001", "heatsite.E002", "heatsite.E003"]


def test_the_debug_check_warns_when_debug_is_on(settings):
    settings.DEBUG = True
    assert ids(checks.debug_off(None)) == ["heatsite.W001"]
    settings.DEBUG = False
    assert checks.debug_off(None) == []


def test_the_cookie_check_wants_host_only_secure_cookies(settings):
    settings.SESSION_COOKIE_NAME, settings.SESSION_COOKIE_SECURE = "sessionid", False
    settings.CSRF_COOKIE_NAME, settings.CSRF_COOKIE_SECURE = "__Host-csrftoken", True
    settings.CSRF_COOKIE_HTTPONLY = True
    (problem,) = checks.cookies_host_only(None)
    assert problem.id == "heatsite.W002"
    assert "session cookie 'sessionid'" in problem.msg
    assert "__Host- prefix" in problem.msg and "not Secure" in problem.msg
    settings.SESSION_COOKIE_NAME, settings.SESSION_COOKIE_SECURE = "__Host-sessionid", True
    assert checks.cookies_host_only(None) == []
    settings.SESSION_COOKIE_SAMESITE = None
    assert ids(checks.cookies_host_only(None)) == ["heatsite.W002"]


def test_the_session_check_wants_staff_limits_and_a_short_cookie(settings):
    assert checks.session_lifetimes(None) == []
    settings.HEATSITE_SESSION_LIMITS = settings.HEATSITE_SESSION_LIMITS | {
        "engineer": (3600, 12 * 3600)
    }
    settings.SESSION_COOKIE_AGE = 14 * 24 * 3600  # Django's default
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != checks.SESSION_LIMITS_MIDDLEWARE]
    assert ids(checks.session_lifetimes(None)) == [
        "heatsite.W003",
        "heatsite.W004",
        "heatsite.W005",
    ]


def test_the_hosts_check_refuses_any_host(settings):
    assert checks.hosts_listed(None) == []
    settings.ALLOWED_HOSTS = ["console.heatsite.example", "*"]
    assert ids(checks.hosts_listed(None)) == ["heatsite.W007"]


@pytest.fixture
def public_docs(monkeypatch):
    # drf-spectacular reads SERVE_PERMISSIONS once, into the views' permission_classes.
    for view in (SpectacularAPIView, SpectacularSwaggerView):
        monkeypatch.setattr(view, "permission_classes", [AllowAny])


def test_the_docs_check_refuses_a_public_schema(public_docs):
    problems = checks.api_docs_not_public(None)
    assert ids(problems) == ["heatsite.W006", "heatsite.W006"]
    assert {str(p.msg) for p in problems} == {
        "The API documentation at schema/ is public.",
        "The API documentation at docs/ is public.",
    }


def test_the_docs_are_not_public_as_configured():
    assert checks.api_docs_not_public(None) == []


def test_the_checks_are_registered(settings):
    settings.DEBUG = True
    own = [p for p in run_checks(include_deployment_checks=True) if p.id.startswith("heatsite.")]
    assert "heatsite.W001" in ids(own)
