"""API refusals in French: the access module's 404/403 reasons, the token endpoint's
refusals and a firmware image link's refusal are raised in English (audit, command line) and
answered in the request's language (`apps.core.api_text`, `apps.firmware.views`). The
detector is tests/i18n/untranslated.py."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from apps.accounts.policy import Action
from apps.core.api_text import TEXTS, said
from tests.i18n.untranslated import english_in

pytestmark = pytest.mark.django_db

REFUSALS = [f"Your role may not {a.value.replace('_', ' ')}." for a in Action] + [
    f"This API token lacks the read scope needed to {a.value.replace('_', ' ')}." for a in Action
]


def _french(user):
    user.language = "fr"
    user.save()
    return user


@pytest.mark.parametrize("text", REFUSALS + [t for t in TEXTS if t.startswith("No such")])
def test_every_refusal_reads_french(text):
    with translation.override("fr"):
        french = said(text)
    assert french != text
    assert not english_in([french], allowed={"« read »"}), french
    with translation.override("en"):
        assert said(text) == text


def test_a_missing_node_and_a_role_without_the_right_are_refused_in_french(
    client, engineer, planner, node
):
    client.force_login(_french(engineer))
    missing = client.get(f"/api/v1/nodes/{node.pk + 1000}/attestation/")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Nœud introuvable."

    client.force_login(_french(planner))
    refused = client.get(f"/api/v1/nodes/{node.pk}/attestation/")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Votre rôle ne vous autorise pas à voir l’attestation."


def test_english_readers_keep_the_english_reasons(client, engineer, node):
    client.force_login(engineer)
    missing = client.get(f"/api/v1/nodes/{node.pk + 1000}/attestation/")
    assert missing.json()["detail"] == "No such node."


def test_the_token_endpoint_refuses_in_the_requests_language(client, engineer):
    url = reverse("api:api-token")
    body = {"username": engineer.username, "password": "wrong"}
    french = client.post(url, body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="fr")
    assert french.status_code == 401
    assert french.json()["detail"] == "Nom d’utilisateur ou mot de passe incorrect."
    english = client.post(url, body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    assert english.json()["detail"] == "Wrong username or password."


def test_an_image_links_refusal_is_french(client):
    url = reverse("firmware-image", args=["not-a-token"])
    french = client.get(url, HTTP_ACCEPT_LANGUAGE="fr")
    assert french.status_code == 403
    assert french.json()["detail"] == "Ce n’est pas un lien d’image valide."
    assert client.get(url).json()["detail"] == "This is not a valid image link."


IMAGE_REFUSALS = [
    "This image link has expired; request the update again.",
    "This is not a valid image link.",
    "This image link was replaced by a newer one.",
    "The update this image link was made for is over.",
    "This image link was already used: it is good for one fetch.",
]


@pytest.mark.parametrize("text", IMAGE_REFUSALS)
def test_every_image_link_refusal_has_its_french(text):
    from pathlib import Path

    from apps.firmware import image_urls

    source = Path(image_urls.__file__).read_text()
    assert f'gettext_noop("{text}")' in source  # word for word what the refusals say
    with translation.override("fr"):
        french = translation.gettext(text)
    assert french != text and not english_in([french]), french
