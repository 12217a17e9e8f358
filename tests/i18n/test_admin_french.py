"""Django's admin in French: our registered models' names (``verbose_name`` through
``pgettext_lazy("admin model name", ...)``) on the index and their change lists."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.i18n.untranslated import english_in, visible_texts

pytestmark = pytest.mark.django_db

FRENCH = (
    "Profils de plateforme", "Versions de micrologiciel", "Configurations de nœud",
    "Points d’accès d’agent", "Enrôlements TPM", "Événements d’audit", "Nœuds",
    "Compteurs de chaleur", "Fenêtres de maintenance", "Jetons d’API",
)  # fmt: skip
ENGLISH = (
    "Platform profiles", "Firmware releases", "Node configurations", "Agent endpoints",
    "Tpm enrolments", "Audit events", "Heat meters", "Maintenance windows", "Api tokens",
    "API tokens",
)  # fmt: skip


@pytest.fixture
def french_admin(admin_user):
    admin_user.language = "fr"
    admin_user.save()
    return admin_user


def test_the_admin_index_names_our_models_in_french(client, french_admin):
    client.force_login(french_admin)
    html = client.get(reverse("admin:index")).content.decode()
    for name in FRENCH:
        assert name in html, name
    for name in ENGLISH:
        assert name not in html, name


@pytest.mark.parametrize(
    "model", [m for m in admin.site._registry if m.__module__.startswith("apps.")]
)
def test_each_change_list_title_is_french(client, french_admin, model):
    client.force_login(french_admin)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = client.get(url)
    assert response.status_code == 200, url
    title = next(
        t for t in visible_texts(response.content.decode()) if t.startswith("Sélectionnez")
    )
    assert not english_in([title]), (url, title)
    assert str(model._meta.verbose_name) in title, (url, title)
