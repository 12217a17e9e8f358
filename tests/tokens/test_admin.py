"""Administrators list every token without its secret and revoke them; audited."""

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.tokens.services import create_token

pytestmark = pytest.mark.django_db


def test_admin_lists_tokens_without_digests_and_revokes_them(client, admin_user, engineer):
    token, secret = create_token(engineer, name="ansible")
    client.force_login(admin_user)
    page = client.get(reverse("admin:tokens_apitoken_changelist")).content.decode()
    assert "ansible" in page and token.digest not in page and secret not in page
    detail = client.get(reverse("admin:tokens_apitoken_change", args=[token.pk]))
    assert detail.status_code == 200 and token.digest not in detail.content.decode()
    response = client.post(
        reverse("admin:tokens_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.get(action="token.revoke").actor == admin_user


def test_engineer_cannot_reach_the_token_admin(client, engineer):
    client.force_login(engineer)
    assert client.get(reverse("admin:tokens_apitoken_changelist")).status_code == 403
