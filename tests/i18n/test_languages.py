"""A user's language: chosen on the account page or the user menu, else the browser's."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.accounts.models import User
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_browser_language_until_the_user_chooses_one(client, partner):
    client.force_login(partner)
    page = client.get(reverse("account"), HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert page["Content-Language"] == "fr" and "Votre compte" in page.content.decode()
    response = client.post(reverse("language-set"), {"language": "en-gb", "next": reverse("fleet")})
    assert response.status_code == 302 and response["Location"] == reverse("fleet")
    page = client.get(reverse("account"), HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert page["Content-Language"] == "en-gb" and "Your account" in page.content.decode()
    partner.refresh_from_db()
    assert partner.language == "en-gb"
    event = AuditEvent.objects.get(action="account.language")
    assert event.detail == {"from": "", "to": "en-gb"} and event.actor == partner


def test_unknown_language_or_foreign_next_changes_nothing_harmful(client, partner):
    client.force_login(partner)
    response = client.post(
        reverse("language-set"), {"language": "xx", "next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("account")
    partner.refresh_from_db()
    assert partner.language == ""
    assert not AuditEvent.objects.filter(action="account.language").exists()


def test_back_to_the_browser_language_clears_the_choice(client, partner):
    partner.language = "fr"
    partner.save()
    client.force_login(partner)
    assert client.get(reverse("account"))["Content-Language"] == "fr"
    client.post(reverse("language-set"), {"language": ""})
    page = client.get(reverse("account"), HTTP_ACCEPT_LANGUAGE="en-GB")
    assert page["Content-Language"] == "en-gb"


def test_seed_demo_makes_the_first_partner_french_speaking():
    call_command("seed_demo", "--sites", "2", "--nodes-per-site", "1", stdout=io.StringIO())
    french = User.objects.get(username="partner-urbaine")
    assert french.language == "fr" and french.organisation.name == "Réseau Chaleur Urbaine"
    assert User.objects.get(username="partner-nord").language == ""


def test_the_login_speaks_the_users_language_from_the_moment_they_are_known(client, partner):
    from django.contrib.messages import get_messages

    from tests.factories import PASSWORD

    partner.language = "fr"
    partner.save(update_fields=["language"])
    form = client.get(reverse("login"))  # an English browser: the form is English
    assert form["Content-Language"] != "fr"
    response = client.post(
        reverse("login"), {"login": partner.username, "password": PASSWORD}, follow=True
    )
    said = [str(m) for m in get_messages(response.wsgi_request)] or [
        line for line in response.content.decode().splitlines() if partner.username in line
    ]
    assert response.status_code == 200 and response["Content-Language"] == "fr"
    assert not any("Successfully signed in" in line for line in said), said
    assert any(partner.username in line for line in said), said
