"""API tokens (issue 13): the account page's token pages, the token API, the token endpoint."""

from django.urls import reverse

from apps.accounts.models import User
from apps.identity import factors
from apps.tokens.services import create_token
from tests.factories import PASSWORD
from tests.routes.common import ALL_200, API_ALL, LOGIN, ROLES, Route

OWN_TOKEN = {"anonymous": 401, "partner": 404, "planner": 404, "engineer": 200, "admin": 404}


def extra_objects(objects):
    # The engineer's token: other users get 404 for it (ids do not leak).
    engineer = User.objects.get(username="engineer")
    return {"api_token": create_token(engineer, name="matrix")[0]}


def _credentials(role, users):
    """Username, password and, for a role that must have a factor, a fresh TOTP code."""
    if role not in users:
        return {}
    from tests.tokens.totp import current_code, enrol_totp

    user = users[role]
    data = {"username": user.username, "password": PASSWORD}
    if factors.factor_required(user):
        data["otp"] = current_code(enrol_totp(user))
    return data


ROUTES: dict[str, Route] = {
    "token-create": Route(lambda o: reverse("token-create"), ALL_200),
    "token-revoke": Route(
        lambda o: reverse("token-revoke", args=[o["api_token"].pk]),
        {"anonymous": LOGIN, "partner": 404, "planner": 404, "engineer": 302, "admin": 404},
        method="post",
    ),
    "api:token-list": Route(lambda o: reverse("api:token-list"), API_ALL),
    "api:token-detail": Route(
        lambda o: reverse("api:token-detail", args=[o["api_token"].pk]), OWN_TOKEN
    ),
    "api:api-token": Route(
        lambda o: reverse("api:api-token"),
        {r: 200 for r in ROLES if r != "anonymous"} | {"anonymous": 400},
        method="post",
        data=_credentials,
    ),
}
