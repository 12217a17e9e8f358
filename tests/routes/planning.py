"""Planner comparison routes (issue 6): planners and admins; partners and engineers get 403."""

from django.urls import reverse

from apps.sites.models import Site
from tests.routes.common import LOGIN, Route

COMPARE = {"anonymous": LOGIN, "partner": 403, "planner": 200, "engineer": 403, "admin": 200}
SAVE = COMPARE | {"planner": 302, "admin": 302}
API_COMPARE = COMPARE | {"anonymous": 401}
RANGE = "?start=2026-01-01&end=2026-02-01"


def _ticked(role, users):
    return {"name": "Route matrix", "sites": str(Site.objects.order_by("pk").first().pk)}


ROUTES: dict[str, Route] = {
    "compare": Route(lambda o: reverse("compare") + RANGE, COMPARE),
    "compare-chart": Route(lambda o: reverse("compare-chart") + RANGE + "&chart=map", COMPARE),
    "compare-csv": Route(lambda o: reverse("compare-csv") + RANGE, COMPARE),
    "compare-selection-save": Route(
        lambda o: reverse("compare-selection-save"), SAVE, method="post", data=_ticked
    ),
    "api:compare": Route(lambda o: reverse("api:compare") + RANGE, API_COMPARE),
}
