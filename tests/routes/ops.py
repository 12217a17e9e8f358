"""Operations endpoints (issue 14): open to anyone who reaches them (no tenant data in them);
/metrics only from METRICS_ALLOWED_NETS (the test client's loopback address)."""

from django.urls import reverse

from tests.routes.common import ROLES, Route

OPEN = dict.fromkeys(ROLES, 200)

ROUTES: dict[str, Route] = {
    "healthz": Route(lambda o: reverse("healthz"), OPEN),
    "readyz": Route(lambda o: reverse("readyz"), OPEN),
    "metrics": Route(lambda o: reverse("metrics"), OPEN),
}
