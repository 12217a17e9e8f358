"""Re-authentication (issue 13, item 4), driven by the one list in apps.identity.dangerous:
every dangerous endpoint is refused 6 minutes after the last factor use and let through right
after re-authenticating with a code."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.identity.dangerous import DANGEROUS
from heatsite.asgi import application
from tests.identity.helpers import enrol_totp, totp_code

HTTP = [d for d in DANGEROUS if d.kind != "ws"]
MISSING = 999_999  # an object that does not exist: the view's own 404 shows the guard let it by


def _patterns(patterns, namespace="", outer=()):
    """(name, URL parameter names) of every named route, parameters of includes too."""
    for entry in patterns:
        names = (*outer, *getattr(entry.pattern, "converters", {}))
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry.url_patterns, inner, names)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", names


PATTERNS = dict(_patterns(get_resolver().url_patterns))


def _url(entry, node, site, user):
    kwargs = {}
    for name in PATTERNS[entry.url_name]:
        if name == "node_id" or (name == "pk" and entry.url_name.startswith("api:node")):
            kwargs[name] = node.pk
        elif name == "site_id" or (name == "pk" and "site" in entry.url_name):
            kwargs[name] = site.pk
        elif name in ("object_id", "id"):
            kwargs[name] = str(user.pk)
        else:
            kwargs[name] = MISSING
    return reverse(entry.url_name, kwargs=kwargs)


def _send(client, entry, url, **headers):
    method = getattr(client, entry.method.lower())
    if entry.kind == "api":
        return method(url, {}, content_type="application/json", **headers)
    return method(url, {}, **headers)


def _refused(entry, response):
    if entry.kind == "api":
        return response.status_code == 403 and "re-authenticate" in response.json()["detail"]
    if response.get("X-Heatsite-Reauth") == "required":
        return True
    return response.status_code == 302 and response["Location"].startswith(reverse("reauth"))


@pytest.fixture
def person(engineer, admin_user):
    secrets = {user.pk: enrol_totp(user) for user in (engineer, admin_user)}
    return lambda entry: admin_user if entry.url_name.startswith("admin:") else engineer, secrets


def test_every_dangerous_url_name_exists():
    assert [d.url_name for d in HTTP if d.url_name not in PATTERNS] == []


@pytest.mark.django_db
@pytest.mark.parametrize("entry", HTTP, ids=[f"{d.method} {d.url_name}" for d in HTTP])
def test_dangerous_endpoint_needs_a_factor_used_in_the_last_minutes(
    client, person, node, site, clock, entry
):
    pick, secrets = person
    user = pick(entry)
    client.force_login(user)  # passes the factor now (tests/conftest.py)
    url = _url(entry, node, site, user)
    clock.advance(6 * 60)
    assert _refused(entry, _send(client, entry, url)), "allowed at minute 6"
    if entry.kind == "page":
        assert _refused(entry, _send(client, entry, url, HTTP_HX_REQUEST="true"))
    # (a plain form's POST held at the refusal runs here: whatever the view answers)
    response = client.post(reverse("reauth"), {"code": totp_code(secrets[user.pk])})
    assert response.status_code < 500
    response = _send(client, entry, url)
    assert not _refused(entry, response), ("refused after re-auth", response.status_code)
    assert response.status_code < 500


@pytest.mark.django_db
def test_token_requests_are_left_to_the_token_scopes(client, engineer, node, clock):
    from django.test import RequestFactory

    from apps.identity.guards import token_request

    api = "/api/v1/sites/"
    assert token_request(RequestFactory().get(api, HTTP_AUTHORIZATION="Token hst_x"))
    assert token_request(RequestFactory().get(api, HTTP_AUTHORIZATION="Bearer hst_x"))
    # any other scheme is no token: DRF would fall back to the session, so the guard applies
    assert not token_request(RequestFactory().get(api, HTTP_AUTHORIZATION="Basic eDp5"))
    # only the API reads tokens: on a page the header is no token
    assert not token_request(RequestFactory().get("/", HTTP_AUTHORIZATION="Token hst_x"))
    client.force_login(engineer)
    clock.advance(6 * 60)
    response = client.post(
        reverse("api:node-power", args=[node.pk]),
        {"action": "on"},
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic eDp5",
    )
    assert response.status_code == 403
    assert "re-authenticate" in response.json()["detail"]


@pytest.mark.django_db
def test_a_factor_used_four_minutes_ago_is_still_recent(client, engineer, node, clock):
    client.force_login(engineer)
    clock.advance(4 * 60)
    response = client.post(reverse("node-power", args=[node.pk]), {"action": "bogus"})
    assert response.get("X-Heatsite-Reauth") is None
    assert not response.get("Location", "").startswith(reverse("reauth"))


# -- the console websocket -----------------------------------------------------------------


def _ws(path, client):
    cookie = client.cookies["sessionid"].value
    headers = [
        (b"origin", b"http://testserver"),
        (b"host", b"testserver"),
        (b"cookie", f"sessionid={cookie}".encode()),
    ]

    async def run():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return "ok" if connected else code

    return async_to_sync(run)()


@pytest.mark.django_db(transaction=True)
def test_console_websocket_needs_a_recent_factor(client, engineer, node, clock):
    secret = enrol_totp(engineer)
    client.force_login(engineer)
    path = f"/ws/nodes/{node.pk}/console/"
    clock.advance(6 * 60)
    assert _ws(path, client) == 4428
    client.post(reverse("reauth"), {"code": totp_code(secret)})
    assert _ws(path, client) == "ok"


PAGES = [d for d in HTTP if d.kind != "api" and not d.url_name.startswith("admin:")]


@pytest.mark.django_db
@pytest.mark.parametrize("entry", PAGES[:3], ids=[f"{d.method} {d.url_name}" for d in PAGES[:3]])
def test_a_token_header_on_a_page_spares_it_no_check(client, engineer, node, site, clock, entry):
    """Pages run on the session whatever Authorization says: a made-up token header on a
    page's dangerous request still meets the re-authentication check."""
    client.force_login(engineer)
    clock.advance(6 * 60)
    url = _url(entry, node, site, engineer)
    response = _send(client, entry, url, HTTP_AUTHORIZATION="Token hst_madeup")
    assert _refused(entry, response), (response.status_code, response.get("Location"))
