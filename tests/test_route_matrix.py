"""Every URL pattern and websocket route, for every role: the access rules on every path.

`ROUTES` (collected from tests/routes/, one module per app) says, for each named route, how
to call it and what each role gets. The walker at the
bottom fails when a route exists that this table does not cover, so a new view cannot ship
without its access test.
"""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.urls import URLPattern, URLResolver, get_resolver

from heatsite.asgi import application
from heatsite.routing import websocket_urlpatterns
from tests.core.hardening import hardening_problems
from tests.factories import HeatMeterFactory
from tests.routes import load
from tests.routes.common import ROLES

ROUTES, WS_ROUTES, EXTRA_OBJECTS = load()

COVERED_NAMESPACES = {"admin"}  # every admin view goes through HeatsiteAdminSite.admin_view


@pytest.fixture
def objects(site, other_site, node):
    objects = {
        "site": site,
        "other_site": other_site,
        "node": node,
        "meter": HeatMeterFactory(site=site),
    }
    for extend in EXTRA_OBJECTS:
        objects.update(extend(objects))
    return objects


def _client(client, users, role):
    if role != "anonymous":
        client.force_login(users[role])
    return client


def _call(client, route, url, role, users):
    data = route.data(role, users) if callable(route.data) else dict(route.data)
    if route.method == "patch" or (route.method == "post" and url.startswith("/api/")):
        return getattr(client, route.method)(url, data, content_type="application/json")
    return getattr(client, route.method)(url, data)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(ROUTES))
def test_route_answers_each_role_as_the_policy_says(client, users, objects, name, role):
    route = ROUTES[name]
    response = _call(_client(client, users, role), route, route.url(objects), role, users)
    assert response.status_code == route.expect[role], (name, role, response.content[:300])
    # Every answer carries the browser-hardening headers (decision 25; over HTTPS with
    # production settings: tests/core/test_security_headers.py).
    assert hardening_problems(response, https=False) == [], (name, role)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if r.foreign))
def test_partner_gets_404_for_another_partners_object(client, users, objects, name):
    route = ROUTES[name]
    response = _call(
        _client(client, users, "partner"), route, route.foreign(objects), "partner", users
    )
    assert response.status_code == 404


def _walk(patterns, namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            yield (
                f"{namespace}{entry.name}"
                if entry.name
                else f"{namespace}<unnamed {entry.pattern}>"
            )


def test_every_url_pattern_is_in_the_route_matrix():
    covered = set(ROUTES)
    missing = sorted(
        {
            name
            for name in _walk(get_resolver().url_patterns)
            if name not in covered and name.split(":")[0] not in COVERED_NAMESPACES
        }
    )
    assert missing == [], f"routes without an access test: {missing}"


# -- websockets ---------------------------------------------------------------------------


def _ws(path, client, user):
    """Connects through the real ASGI stack with the session cookie of `client`."""
    cookie = client.cookies.get("sessionid")
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if cookie is not None and user is not None:
        headers.append((b"cookie", f"sessionid={cookie.value}".encode()))

    async def run():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return "ok" if connected else code

    return async_to_sync(run)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(WS_ROUTES))
def test_websocket_route_answers_each_role(client, users, objects, name, role):
    path, expect, _ = WS_ROUTES[name]
    user = users.get(role)
    if user is not None:
        client.force_login(user)
    assert _ws(path(objects), client, user) == expect[role]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", sorted(n for n, r in WS_ROUTES.items() if r[2]))
def test_partner_websocket_to_another_partners_object_is_refused_as_not_found(
    client, users, objects, name
):
    client.force_login(users["partner"])
    assert _ws(WS_ROUTES[name][2](objects), client, users["partner"]) == 4404


@pytest.mark.django_db(transaction=True)
def test_websocket_from_a_foreign_origin_is_refused(client, users, objects):
    client.force_login(users["engineer"])
    cookie = client.cookies["sessionid"].value

    async def run():
        communicator = WebsocketCommunicator(
            application,
            "/ws/fleet/",
            headers=[
                (b"origin", b"http://evil.example"),
                (b"cookie", f"sessionid={cookie}".encode()),
            ],
        )
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert async_to_sync(run)() is False


def test_every_websocket_route_is_in_the_matrix():
    assert {pattern.name for pattern in websocket_urlpatterns} == set(WS_ROUTES)
