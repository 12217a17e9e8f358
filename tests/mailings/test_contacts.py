"""A partner's users manage who receives the monthly statement, on their account page."""

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.mailings.models import PartnerContact

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def test_the_account_page_loads_the_contacts_for_a_partner(client, partner):
    client.force_login(partner)
    page = client.get(reverse("account"))
    assert reverse("contacts") in page.content.decode()
    fragment = client.get(reverse("contacts"), **HX)
    assert fragment.status_code == 200
    assert "No contact receives the statement yet." in fragment.content.decode()


def test_a_partner_adds_a_contact_and_it_is_audited(client, partner):
    client.force_login(partner)
    data = {"name": "Claire", "email": "Claire@RCU.example", "language": "fr",
            "monthly_statement": "on"}  # fmt: skip
    response = client.post(reverse("contacts"), data, **HX)
    assert response.status_code == 200
    contact = PartnerContact.objects.get()
    stored = (contact.organisation_id, contact.email, contact.language, contact.monthly_statement)
    assert stored == (partner.organisation_id, "claire@rcu.example", "fr", True)
    assert "claire@rcu.example" in response.content.decode()
    event = AuditEvent.objects.get(action="contact.create")
    assert (event.actor, event.target_id) == (partner, str(contact.pk))


def test_bad_input_is_a_form_error_and_nothing_stored_is_lost(client, partner):
    client.force_login(partner)
    PartnerContact.objects.create(organisation=partner.organisation, name="A", email="a@x.example")
    response = client.post(reverse("contacts"), {"name": "B", "email": "A@x.example"})
    assert response.status_code == 400
    assert "This address is already a contact." in response.content.decode()
    response = client.post(reverse("contacts"), {"name": "", "email": "not-an-address"})
    assert response.status_code == 400
    assert PartnerContact.objects.count() == 1


def test_a_partner_unsubscribes_and_removes_a_contact(client, partner):
    client.force_login(partner)
    contact = PartnerContact.objects.create(
        organisation=partner.organisation, name="A", email="a@x.example"
    )
    client.post(reverse("contact-update", args=[contact.pk]), {"monthly_statement": "0"}, **HX)
    contact.refresh_from_db()
    assert contact.monthly_statement is False
    bad = client.post(reverse("contact-update", args=[contact.pk]), {"monthly_statement": "yes"})
    assert bad.status_code == 400
    client.post(reverse("contact-delete", args=[contact.pk]), **HX)
    assert not PartnerContact.objects.exists()
    assert AuditEvent.objects.filter(action__in=["contact.update", "contact.delete"]).count() == 2


def test_another_partners_contact_is_not_there(client, partner, other_partner):
    contact = PartnerContact.objects.create(
        organisation=other_partner.organisation, name="B", email="b@x.example"
    )
    client.force_login(partner)
    assert client.post(reverse("contact-update", args=[contact.pk]),
                       {"monthly_statement": "0"}).status_code == 404  # fmt: skip
    assert client.post(reverse("contact-delete", args=[contact.pk])).status_code == 404
    assert "b@x.example" not in client.get(reverse("contacts"), **HX).content.decode()
    assert PartnerContact.objects.filter(monthly_statement=True).count() == 1


@pytest.mark.parametrize("role", ["engineer", "planner", "admin_user"])
def test_other_roles_have_no_contacts_page(client, role, request):
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("contacts")).status_code == 403
    assert (
        client.post(reverse("contacts"), {"name": "x", "email": "x@x.example"}).status_code == 403
    )


def test_the_demo_seeds_one_contact_per_partner_once(partner_org, other_org):
    from django.core.management import call_command

    call_command("statement_mail", "seed-demo")
    call_command("statement_mail", "seed-demo")
    contacts = PartnerContact.objects.order_by("organisation__name")
    assert [c.organisation for c in contacts] == sorted(
        [partner_org, other_org], key=lambda o: o.name
    )
    assert [c.language for c in contacts] == ["fr", "en-gb"]
    assert all(c.monthly_statement for c in contacts)
