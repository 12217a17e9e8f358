"""Site gateways (issue 14): engineers and admins list them; only engineers enrol and revoke.
Partners never learn they exist (404)."""

from django.urls import reverse

from apps.gateways.models import Gateway
from tests.routes.common import LOGIN, Route


def extra_objects(objects):
    # already revoked: revoking again changes nothing and calls no broker
    gateway = Gateway.objects.create(
        name="route-gw", status=Gateway.Status.REVOKED, box_public_key="x", signing_public_key="y"
    )
    return {"gateway": gateway}


ROUTES: dict[str, Route] = {
    "gateways": Route(
        lambda o: reverse("gateways"),
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 200, "admin": 200},
    ),
    # an empty enrolment form: a 400 with the form's errors for an engineer (no broker call)
    "gateways:post": Route(
        lambda o: reverse("gateways"),
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 400, "admin": 403},
        method="post",
    ),
    "gateway-revoke": Route(
        lambda o: reverse("gateway-revoke", args=[o["gateway"].pk]),
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 302, "admin": 403},
        method="post",
    ),
    "api:gateway-list": Route(
        lambda o: reverse("api:gateway-list"),
        {"anonymous": 401, "partner": 404, "planner": 403, "engineer": 200, "admin": 200},
    ),
    "api:gateway-list:post": Route(
        lambda o: reverse("api:gateway-list"),
        {"anonymous": 401, "partner": 404, "planner": 403, "engineer": 400, "admin": 403},
        method="post",
    ),
    "api:gateway-revoke": Route(
        lambda o: reverse("api:gateway-revoke", args=[o["gateway"].pk]),
        {"anonymous": 401, "partner": 404, "planner": 403, "engineer": 200, "admin": 403},
        method="post",
    ),
}
