"""Every URL over HTTPS with production settings: the browser-hardening headers and the
cookie flags (issue 13, item 7; decision 25). ZAP's passive rules, as a test.

The route matrix (tests/routes/) says how to call each route; this walks all of them over
HTTPS (anonymous, partner, engineer; tests/test_route_matrix.py applies the same checks, all
but the HTTPS-only ones, to every role) and checks every answer (pages, fragments, API,
errors, redirects, the admin) carries a strict Content-Security-Policy with a fresh nonce,
HSTS, nosniff, Referrer-Policy, COOP, a Permissions-Policy that still allows passkeys, no
inline code, and that every cookie it sets is Secure, HttpOnly and SameSite, the session and
CSRF cookies with the ``__Host-`` prefix.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from heatsite.asgi import application
from tests.core.hardening import NONCE, csp_directives, hardening_problems
from tests.core.production import production_settings
from tests.factories import PASSWORD, HeatMeterFactory
from tests.routes import load

ROUTES, _, EXTRA_OBJECTS = load()

SECURITY_SETTINGS = [
    "MIDDLEWARE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
    "X_FRAME_OPTIONS",
    "HEATSITE_CSP_UPGRADE_INSECURE",
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_NAME",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "LANGUAGE_COOKIE_SECURE",
    "LANGUAGE_COOKIE_HTTPONLY",
    "LANGUAGE_COOKIE_SAMESITE",
]
# The route matrix checks every route for every role with development settings (all but what
# only HTTPS gives); over HTTPS with production settings, these roles walk every route.
HTTPS_ROLES = ("anonymous", "partner", "engineer")


@pytest.fixture(scope="module")
def production():
    return production_settings(SECURITY_SETTINGS)


@pytest.fixture
def production_settings_on(settings, production):
    for name, value in production.items():
        setattr(settings, name, value)
    return production


@pytest.fixture
def objects(site, other_site, node):
    objects = {"site": site, "other_site": other_site, "node": node}
    objects["meter"] = HeatMeterFactory(site=site)
    for extend in EXTRA_OBJECTS:
        objects.update(extend(objects))
    return objects


def call(client, route, url, role, users):
    data = route.data(role, users) if callable(route.data) else dict(route.data)
    method = getattr(client, route.method)
    if route.method == "patch" or (route.method == "post" and url.startswith("/api/")):
        return method(url, data, content_type="application/json", secure=True)
    return method(url, data, secure=True)


@pytest.mark.django_db
@pytest.mark.parametrize("role", HTTPS_ROLES)
def test_every_route_answers_each_role_with_the_hardening_headers_and_cookie_flags(
    production_settings_on, users, objects, role
):
    client = Client(raise_request_exception=False)
    if role != "anonymous":
        client.force_login(users[role])
    problems = {}
    for name in sorted(ROUTES):
        route = ROUTES[name]
        response = call(client, route, route.url(objects), role, users)
        found = hardening_problems(response)
        if found:
            problems[f"{route.method.upper()} {name} ({response.status_code})"] = found
    assert problems == {}


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https_and_the_redirect_is_hardened_too(
    production_settings_on,
):
    response = Client().get(reverse("login"))
    assert response.status_code == 301
    assert response["Location"] == "https://testserver" + reverse("login")
    csp = csp_directives(response)
    assert csp["frame-ancestors"] == ["'none'"]
    assert any(NONCE.fullmatch(s) for s in csp["script-src"])
    # HSTS only means something over HTTPS: browsers ignore it on plain HTTP.
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.django_db
def test_login_over_https_sets_host_only_secure_http_only_cookies(production_settings_on, partner):
    client = Client()
    form = client.get(reverse("login"), secure=True)
    assert form.status_code == 200
    assert hardening_problems(form) == []
    assert form.cookies["__Host-csrftoken"]["secure"]

    response = client.post(
        reverse("login"), {"login": partner.username, "password": PASSWORD}, secure=True
    )
    assert response.status_code == 302, response.content[:500]
    cookie = response.cookies["__Host-sessionid"]
    assert cookie.value
    assert (cookie["secure"], cookie["httponly"], cookie["samesite"], cookie["path"]) == (
        True,
        True,
        "Lax",
        "/",
    )
    assert not cookie["domain"]
    assert "sessionid" not in response.cookies
    assert hardening_problems(response) == []


@pytest.mark.django_db
def test_each_answer_gets_a_new_nonce_and_the_api_docs_script_carries_it(client, partner):
    client.force_login(partner)
    first = client.get(reverse("api:api-docs"))
    second = client.get(reverse("api:api-docs"))
    nonces = []
    for response in (first, second):
        assert response.status_code == 200
        (nonce,) = [
            m.group(1) for s in csp_directives(response)["script-src"] if (m := NONCE.fullmatch(s))
        ]
        # Swagger UI's one inline script runs because it carries this answer's nonce.
        assert f'<script nonce="{nonce}">' in response.content.decode()
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def _ws_connect(headers):
    async def run():
        communicator = WebsocketCommunicator(application, "/ws/fleet/", headers=headers)
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    return async_to_sync(run)()


@pytest.mark.django_db(transaction=True)
def test_websocket_without_an_origin_is_refused_and_with_our_own_accepted(client, partner):
    client.force_login(partner)
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    assert _ws_connect([cookie, (b"host", b"testserver")]) is False
    assert _ws_connect([cookie, (b"origin", b"http://evil.example"), (b"host", b"testserver")]) is (
        False
    )
    assert _ws_connect([cookie, (b"origin", b"http://testserver"), (b"host", b"testserver")])
