"""The route × role matrix again, through API tokens of each scope the role may hold.

A token acts as its user, narrowed by its scope: `read` reads; `write` also changes inventory
(anything but GET/HEAD/OPTIONS needs it, refused before the view runs); `operate` also powers,
opens consoles, changes BIOS/BMC and runs firmware (apps.accounts.policy.scope_needed, checked
by apps.accounts.access wherever the action is). Expected answers are derived from the session
matrix (tests/routes/) by those rules; OPERATE lists the routes that need `operate`.
"""

import pytest
from django.db import transaction

from apps.accounts.policy import grantable_scopes
from apps.tokens.services import create_token
from tests.routes import load
from tests.test_route_matrix import _call, objects  # noqa: F401  (fixture)

ROUTES, _, _ = load()

# Routes a `write` token may not call where the role could: power, BMC, BIOS, firmware,
# gateways (they hold power credentials). A new route whose action needs operate goes here.
OPERATE = {
    "api:firmware-bundle-desired",
    "api:firmware-campaign-abort",
    "api:firmware-campaign-approve",
    "api:firmware-campaign-pause",
    "api:firmware-campaign-resume",
    "api:firmware-campaign-rollback",
    "api:firmware-campaign-start",
    "api:firmware-image-upload",
    "api:gateway-list:post",
    "api:gateway-revoke",
    "api:node-bmc-password-rotate",
    "api:node-boot-device",
    "api:node-firmware-update",
    "api:node-power",
    "api:site-power",
}
# The token endpoint is a login (password and code), not token-authenticated; the schema and
# its viewer answer every authenticated caller alike (and are slow to build 8 times).
NOT_TOKEN = {"api:api-token", "api:api-schema", "api:api-docs"}
TOKEN_ROUTES = sorted(
    name for name, route in ROUTES.items() if name.startswith("api:") and name not in NOT_TOKEN
)
ROLES = ("partner", "planner", "engineer", "admin")
SAFE = {"get", "head", "options"}


def expected(name: str, role: str, scope: str) -> int:
    route = ROUTES[name]
    session = route.expect[role]
    if route.method in SAFE:
        return session  # reading needs only read
    if scope == "read":
        return 403  # refused before the view looks anything up
    if name in OPERATE and scope != "operate" and session not in (403, 404):
        return 403
    return session


def test_partners_and_planners_hold_read_tokens_only():
    assert grantable_scopes("partner") == grantable_scopes("planner") == ("read",)
    assert grantable_scopes("engineer") == ("read", "write", "operate")


def test_operate_routes_exist():
    assert set(ROUTES) >= OPERATE


@pytest.mark.django_db
def test_every_api_route_answers_each_role_and_token_scope(client, users, objects):  # noqa: F811
    # One test for all routes (the fixtures are costly); each call runs in a rolled-back
    # savepoint, so every call meets the same state, as in the session matrix.
    wrong = []
    for name in TOKEN_ROUTES:
        route = ROUTES[name]
        url = route.url(objects)
        for role in ROLES:
            for scope in grantable_scopes(role):
                with transaction.atomic():
                    _, secret = create_token(users[role], name=f"{role}-{scope}", scopes=[scope])
                    client.defaults["HTTP_AUTHORIZATION"] = f"Token {secret}"
                    status = _call(client, route, url, role, users).status_code
                    transaction.set_rollback(True)
                if status != expected(name, role, scope):
                    wrong.append((name, role, scope, status, expected(name, role, scope)))
    assert len(TOKEN_ROUTES) > 40
    assert wrong == [], f"(route, role, scope, got, expected): {wrong}"


def _api_views(patterns, prefix=""):
    from django.urls import URLPattern, URLResolver

    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _api_views(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            view = getattr(entry.callback, "cls", None)
            if view is not None:
                yield prefix + str(entry.pattern), view


def test_every_api_view_checks_token_scopes():
    """A view that sets its own permission_classes must keep TokenScope (or be the token
    endpoint, which no token reaches): otherwise a read token could change things there."""
    from django.urls import get_resolver

    from apps.tokens.auth import TokenScope

    exempt = {"TokenView"}
    views = list(_api_views(get_resolver().url_patterns))
    api = [(path, view) for path, view in views if path.startswith("api/v1/")]
    assert len(api) > 40
    missing = sorted(
        path
        for path, view in api
        if view.__name__ not in exempt
        and not any(issubclass(p, TokenScope) for p in getattr(view, "permission_classes", []))
        and "Spectacular" not in view.__name__
    )
    assert missing == []
