"""Language routes: the user's language switch and the JavaScript catalog."""

from django.urls import reverse

from tests.routes.common import ROLES, Route

ROUTES: dict[str, Route] = {
    # Anonymous: to the login form; everyone else: back to where they were.
    "language-set": Route(
        lambda o: reverse("language-set"),
        dict.fromkeys(ROLES, 302),
        method="post",
        data={"language": "fr"},
    ),
    # Translations of the static scripts: no data, so readable before logging in.
    "javascript-catalog": Route(lambda o: reverse("javascript-catalog"), dict.fromkeys(ROLES, 200)),
}
