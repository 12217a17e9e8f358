"""Statement e-mail contacts (issue 15): a partner's users manage their own organisation's."""

from django.urls import reverse

from apps.mailings.models import PartnerContact
from tests.routes.common import LOGIN, Route

PARTNER_ONLY = {"anonymous": LOGIN, "partner": 200, "planner": 403, "engineer": 403, "admin": 403}
# A plain (non-htmx) POST answers with a redirect back to the account page.
PARTNER_POST = {**PARTNER_ONLY, "partner": 302}


def extra_objects(objects):
    return {
        "contact": PartnerContact.objects.create(
            organisation=objects["site"].partner, name="Own", email="own@x.example"
        ),
        "other_contact": PartnerContact.objects.create(
            organisation=objects["other_site"].partner, name="Other", email="other@x.example"
        ),
    }


def _contact(name, key):
    return lambda o: reverse(name, args=[o[key].pk])


ROUTES: dict[str, Route] = {
    "contacts": Route(lambda o: reverse("contacts"), PARTNER_ONLY),
    "contact-update": Route(
        _contact("contact-update", "contact"),
        PARTNER_POST,
        method="post",
        data={"monthly_statement": "0"},
        foreign=_contact("contact-update", "other_contact"),
    ),
    "contact-delete": Route(
        _contact("contact-delete", "contact"),
        PARTNER_POST,
        method="post",
        foreign=_contact("contact-delete", "other_contact"),
    ),
}
