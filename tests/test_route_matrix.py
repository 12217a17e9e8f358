"""Every URL pattern and websocket route, for every role: the access rules on every path.

`ROUTES` says, for each named route, how to call it and what each role gets. The walker at the
bottom fails when a route exists that this table does not cover, so a new view cannot ship
without its access test.
"""

from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.hardware.models import PowerAction, PowerBatch
from heatsite.asgi import application
from heatsite.routing import websocket_urlpatterns
from tests.factories import PASSWORD, HeatMeterFactory

ROLES = ("anonymous", "partner", "planner", "engineer", "admin")


@dataclass
class Route:
    url: Any  # callable(objects) -> str
    expect: dict[str, int]  # role -> status
    method: str = "get"
    data: Any = field(default_factory=dict)  # or callable(role, users) -> dict
    # Same route on another partner's object: what the partner gets (404: ids do not leak).
    foreign: Any = None


def own(name, key="site"):
    return lambda o: reverse(name, args=[o[key].pk])


def foreign(name, key="other_site"):
    return lambda o: reverse(name, args=[o[key].pk])


LOGIN = 302  # anonymous page requests are redirected to the login form
ALL_200 = {"anonymous": LOGIN, "partner": 200, "planner": 200, "engineer": 200, "admin": 200}
HARDWARE = {"anonymous": LOGIN, "partner": 403, "planner": 403, "engineer": 200, "admin": 200}
API_ALL = {"anonymous": 401, "partner": 200, "planner": 200, "engineer": 200, "admin": 200}
API_HARDWARE = {"anonymous": 401, "partner": 403, "planner": 403, "engineer": 200, "admin": 200}
API_NODE = {"anonymous": 401, "partner": 404, "planner": 403, "engineer": 200, "admin": 200}
POWER_PAGE = {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 302, "admin": 403}
API_POWER = {"anonymous": 401, "partner": 404, "planner": 403, "engineer": 202, "admin": 403}

ROUTES: dict[str, Route] = {
    "home": Route(lambda o: "/", dict.fromkeys(ROLES, 302)),
    "login": Route(
        lambda o: reverse("login"),
        {"anonymous": 200, "partner": 302, "planner": 302, "engineer": 302, "admin": 302},
    ),
    "logout": Route(lambda o: reverse("logout"), dict.fromkeys(ROLES, 302), method="post"),
    "account": Route(lambda o: reverse("account"), ALL_200),
    "token-regenerate": Route(
        lambda o: reverse("token-regenerate"), dict.fromkeys(ROLES, 302), method="post"
    ),
    "token-revoke": Route(
        lambda o: reverse("token-revoke"), dict.fromkeys(ROLES, 302), method="post"
    ),
    "fleet": Route(lambda o: reverse("fleet"), ALL_200),
    "site-detail": Route(own("site-detail"), ALL_200, foreign=foreign("site-detail")),
    "site-nodes": Route(own("site-nodes"), HARDWARE, foreign=foreign("site-nodes")),
    "node-detail": Route(
        own("node-detail", "node"),
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 200, "admin": 200},
    ),
    "audit-log": Route(lambda o: reverse("audit-log"), HARDWARE),
    "api:api-token": Route(
        lambda o: reverse("api:api-token"),
        {r: 200 for r in ROLES if r != "anonymous"} | {"anonymous": 400},
        method="post",
        data=lambda role, users: (
            {"username": users[role].username, "password": PASSWORD} if role in users else {}
        ),
    ),
    "api:api-schema": Route(lambda o: reverse("api:api-schema"), API_ALL),
    "api:api-docs": Route(lambda o: reverse("api:api-docs"), API_ALL),
    "api:api-root": Route(lambda o: reverse("api:api-root"), API_ALL),
    "api:site-list": Route(lambda o: reverse("api:site-list"), API_ALL),
    "api:site-detail": Route(
        lambda o: f"/api/v1/sites/{o['site'].pk}/",
        API_ALL,
        foreign=lambda o: f"/api/v1/sites/{o['other_site'].pk}/",
    ),
    "api:node-list": Route(lambda o: reverse("api:node-list"), API_HARDWARE),
    "api:node-detail": Route(lambda o: f"/api/v1/nodes/{o['node'].pk}/", API_NODE),
    "api:meter-list": Route(lambda o: reverse("api:meter-list"), API_HARDWARE),
    "api:meter-detail": Route(
        lambda o: reverse("api:meter-detail", args=[o["meter"].pk]), API_NODE
    ),
    "api:site-create": Route(
        lambda o: reverse("api:site-list"),
        {"anonymous": 401, "partner": 403, "planner": 403, "engineer": 400, "admin": 400},
        method="post",
    ),
    "api:node-update": Route(
        lambda o: f"/api/v1/nodes/{o['node'].pk}/",
        {"anonymous": 401, "partner": 404, "planner": 403, "engineer": 200, "admin": 200},
        method="patch",
        data={"rack_position": "R2-U10"},
    ),
    # -- power (issue 3): engineers only; admins manage, they do not press power buttons
    "node-power-confirm": Route(
        lambda o: reverse("node-power-confirm", args=[o["node"].pk]) + "?action=off",
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 200, "admin": 403},
    ),
    "node-power": Route(
        own("node-power", "node"), POWER_PAGE, method="post", data={"action": "on"}
    ),
    "node-boot-device": Route(
        own("node-boot-device", "node"), POWER_PAGE, method="post", data={"device": "network"}
    ),
    "node-refresh": Route(
        own("node-refresh", "node"),
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 302, "admin": 302},
        method="post",
    ),
    "node-actions": Route(
        own("node-actions", "node"),
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 200, "admin": 200},
    ),
    "site-power-confirm": Route(
        lambda o: reverse("site-power-confirm", args=[o["site"].pk]) + "?action=off",
        {"anonymous": LOGIN, "partner": 403, "planner": 403, "engineer": 200, "admin": 403},
        foreign=lambda o: reverse("site-power-confirm", args=[o["other_site"].pk]) + "?action=off",
    ),
    "site-power": Route(
        own("site-power"),
        {"anonymous": LOGIN, "partner": 403, "planner": 403, "engineer": 302, "admin": 403},
        method="post",
        data={"action": "off"},
        foreign=foreign("site-power"),
    ),
    "power-batch": Route(own("power-batch", "batch"), HARDWARE),
    "api:node-power": Route(
        own("api:node-power", "node"), API_POWER, method="post", data={"action": "on"}
    ),
    "api:node-boot-device": Route(
        own("api:node-boot-device", "node"), API_POWER, method="post", data={"device": "network"}
    ),
    "api:site-power": Route(
        own("api:site-power"),
        {"anonymous": 401, "partner": 403, "planner": 403, "engineer": 202, "admin": 403},
        method="post",
        data={"action": "off"},
        foreign=foreign("api:site-power"),
    ),
    "api:power-action-detail": Route(own("api:power-action-detail", "action"), API_NODE),
    "api:power-batch-detail": Route(own("api:power-batch-detail", "batch"), API_HARDWARE),
    "admin": Route(
        lambda o: reverse("admin:index"),
        {"anonymous": 302, "partner": 403, "planner": 403, "engineer": 403, "admin": 200},
    ),
    "admin:changelists": Route(
        lambda o: reverse("admin:sites_node_changelist"),
        {"anonymous": 302, "partner": 403, "planner": 403, "engineer": 403, "admin": 200},
    ),
}

COVERED_NAMESPACES = {"admin"}  # every admin view goes through HeatsiteAdminSite.admin_view


@pytest.fixture
def objects(site, other_site, node):
    batch = PowerBatch.objects.create(site=site, action="off")
    done = {"status": PowerAction.Status.SUCCEEDED}
    return {
        "site": site,
        "other_site": other_site,
        "node": node,
        "meter": HeatMeterFactory(site=site),
        "batch": batch,
        "action": PowerAction.objects.create(node=node, kind="on", batch=batch, **done),
    }


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

WS_ROUTES = {
    "ws-fleet": (
        lambda o: "/ws/fleet/",
        {"anonymous": 4401, "partner": "ok", "planner": "ok", "engineer": "ok", "admin": "ok"},
        None,
    ),
    "ws-site": (
        lambda o: f"/ws/sites/{o['site'].pk}/",
        {"anonymous": 4401, "partner": "ok", "planner": "ok", "engineer": "ok", "admin": "ok"},
        lambda o: f"/ws/sites/{o['other_site'].pk}/",
    ),
}


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
def test_partner_websocket_to_another_partners_site_is_refused_as_not_found(client, users, objects):
    client.force_login(users["partner"])
    assert _ws(WS_ROUTES["ws-site"][2](objects), client, users["partner"]) == 4404


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
