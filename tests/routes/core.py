"""Foundation routes: login, account, fleet, site, node pages, inventory API, admin."""

from django.urls import reverse

from tests.routes.common import (
    ALL_200,
    API_ALL,
    API_HARDWARE,
    API_NODE,
    HARDWARE,
    LOGIN,
    ROLES,
    Route,
    foreign,
    own,
)

ROUTES: dict[str, Route] = {
    "home": Route(lambda o: "/", dict.fromkeys(ROLES, 302)),
    "favicon": Route(lambda o: "/favicon.ico", dict.fromkeys(ROLES, 302)),
    "login": Route(
        lambda o: reverse("login"),
        {"anonymous": 200, "partner": 302, "planner": 302, "engineer": 302, "admin": 302},
    ),
    "logout": Route(lambda o: reverse("logout"), dict.fromkeys(ROLES, 302), method="post"),
    "account": Route(lambda o: reverse("account"), ALL_200),
    "fleet": Route(lambda o: reverse("fleet"), ALL_200),
    "site-detail": Route(own("site-detail"), ALL_200, foreign=foreign("site-detail")),
    "site-nodes": Route(own("site-nodes"), HARDWARE, foreign=foreign("site-nodes")),
    "node-detail": Route(
        own("node-detail", "node"),
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 200, "admin": 200},
    ),
    "audit-log": Route(lambda o: reverse("audit-log"), HARDWARE),
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
    "admin": Route(
        lambda o: reverse("admin:index"),
        {"anonymous": 302, "partner": 403, "planner": 403, "engineer": 403, "admin": 200},
    ),
    "admin:changelists": Route(
        lambda o: reverse("admin:sites_node_changelist"),
        {"anonymous": 302, "partner": 403, "planner": 403, "engineer": 403, "admin": 200},
    ),
}


# Websocket routes: name -> (path(objects), role -> "ok" or close code, path on another
# partner's object or None).
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
