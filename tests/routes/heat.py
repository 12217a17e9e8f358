"""Heat routes (issue 4): every role that sees a site sees its heat; partners only their own."""

from django.urls import reverse

from tests.routes.common import ALL_200, API_ALL, Route, foreign, own

MONTH = "2026-01"


def _monthly(name, key):
    return lambda o: reverse(name, args=[o[key].pk, MONTH])


ROUTES: dict[str, Route] = {
    "heat-chart": Route(own("heat-chart"), ALL_200, foreign=foreign("heat-chart")),
    "heat-summary": Route(own("heat-summary"), ALL_200, foreign=foreign("heat-summary")),
    "heat-alarms": Route(own("heat-alarms"), ALL_200, foreign=foreign("heat-alarms")),
    "heat-statements": Route(own("heat-statements"), ALL_200, foreign=foreign("heat-statements")),
    **{
        name: Route(_monthly(name, "site"), ALL_200, foreign=_monthly(name, "other_site"))
        for name in ("heat-statement", "heat-statement-csv", "heat-statement-pdf")
    },
    "api:site-heat": Route(
        lambda o: (
            reverse("api:site-heat", args=[o["site"].pk])
            + "?start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z&resolution=hour"
        ),
        API_ALL,
        foreign=lambda o: (
            reverse("api:site-heat", args=[o["other_site"].pk])
            + "?start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z"
        ),
    ),
    "api:site-heat-statement": Route(
        lambda o: reverse("api:site-heat-statement", args=[o["site"].pk]) + f"?month={MONTH}",
        API_ALL,
        foreign=lambda o: (
            reverse("api:site-heat-statement", args=[o["other_site"].pk]) + f"?month={MONTH}"
        ),
    ),
}
