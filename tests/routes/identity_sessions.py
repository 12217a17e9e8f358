"""Re-authentication, a person's own sessions and the administrators' lockout page."""

from django.urls import reverse

from tests.routes.common import ALL_200, LOGIN, ROLES, Route

ROUTES: dict[str, Route] = {
    "reauth": Route(lambda o: reverse("reauth"), ALL_200),
    "sessions": Route(lambda o: reverse("sessions"), ALL_200),
    # Ends the caller's other sessions, then back to the list.
    "sessions-end-others": Route(
        lambda o: reverse("sessions-end-others"), dict.fromkeys(ROLES, 302), method="post"
    ),
    # A session id that is not the caller's: 404 (ids of other people's sessions do not leak).
    "session-end": Route(
        lambda o: reverse("session-end", args=[999_999]),
        {"anonymous": LOGIN, "partner": 404, "planner": 404, "engineer": 404, "admin": 404},
        method="post",
    ),
    "lockouts": Route(
        lambda o: reverse("lockouts"),
        {"anonymous": LOGIN, "partner": 403, "planner": 403, "engineer": 403, "admin": 200},
    ),
}
