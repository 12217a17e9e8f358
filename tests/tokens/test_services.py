"""API tokens: secrets never stored, scopes per role, expiry, IP ranges, revocation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.tokens import services
from apps.tokens.models import ApiToken

pytestmark = pytest.mark.django_db


def test_secret_is_prefixed_long_and_only_its_peppered_digest_is_stored(engineer):
    token, secret = services.create_token(engineer, name="ci")
    assert secret.startswith("hst_") and len(secret) - 4 >= 40  # 240 bits of token_urlsafe
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert secret not in str(row)
    assert row["digest"] != services.digest(secret, b"")  # keyed, not a plain SHA-256
    assert row["prefix"] == secret[:8] and row["pepper_id"] == "k1"
    assert services.authenticate(secret, "10.0.0.1").pk == token.pk


def test_default_expiry_is_30_days_and_more_than_365_is_refused(engineer):
    token, _ = services.create_token(engineer, name="a")
    assert timedelta(days=29, hours=23) < token.expires - timezone.now() <= timedelta(days=30)
    services.create_token(engineer, name="b", days=365)
    for days in (0, 366, -1):
        with pytest.raises(services.TokenError, match="1 to 365 days"):
            services.create_token(engineer, name="c", days=days)


def test_scopes_nest_and_are_limited_by_role(engineer, partner, planner):
    token, _ = services.create_token(engineer, name="ops", scopes=["operate"])
    assert token.scopes == ["read", "write", "operate"] and token.has_scope("write")
    read, _ = services.create_token(partner, name="erp")
    assert read.scopes == ["read"] and not read.has_scope("write")
    for user in (partner, planner):
        with pytest.raises(services.TokenError, match="may not hold a token with the write"):
            services.create_token(user, name="x", scopes=["write"])
    with pytest.raises(services.TokenError, match="Unknown scope 'admin'"):
        services.create_token(engineer, name="x", scopes=["admin"])


def test_expired_revoked_and_foreign_address_tokens_are_refused_and_audited(engineer):
    token, secret = services.create_token(engineer, name="n", allowed_ips="192.0.2.0/24")
    assert services.authenticate(secret, "192.0.2.7").pk == token.pk
    with pytest.raises(services.TokenRefused, match="address"):
        services.authenticate(secret, "198.51.100.1")
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.TokenRefused, match="expired"):
        services.authenticate(secret, "192.0.2.7")
    assert AuditEvent.objects.filter(action="token.refused", target_id=str(token.pk)).count() == 2
    with pytest.raises(services.TokenRefused, match="Invalid"):
        services.authenticate("hst_" + "x" * 40, "192.0.2.7")


def test_bad_ip_range_is_a_clear_error(engineer):
    with pytest.raises(services.TokenError, match="Not an IP address or range: 'nope'"):
        services.create_token(engineer, name="x", allowed_ips=["10.0.0.0/8", "nope"])


def test_last_use_time_and_address_are_recorded(engineer):
    token, secret = services.create_token(engineer, name="n")
    services.authenticate(secret, "10.1.2.3")
    token.refresh_from_db()
    assert token.last_used_ip == "10.1.2.3" and token.last_used_at is not None


def test_revoke_all_revokes_every_active_token_once_and_audits(engineer, admin_user):
    secrets = [services.create_token(engineer, name=f"t{i}")[1] for i in range(3)]
    services.revoke(ApiToken.objects.filter(user=engineer).first(), by=engineer)
    assert services.revoke_all(engineer, reason="deactivated", by=admin_user) == 2
    assert services.revoke_all(engineer, reason="again", by=admin_user) == 0
    for secret in secrets:
        with pytest.raises(services.TokenRefused, match="revoked"):
            services.authenticate(secret, "10.0.0.1")
    event = AuditEvent.objects.get(action="token.revoke_all")
    assert event.actor == admin_user and event.detail["count"] == 2


def test_rotated_pepper_still_verifies_old_tokens_and_dropping_it_invalidates(engineer, settings):
    token, secret = services.create_token(engineer, name="old")
    settings.HEATSITE_TOKEN_PEPPERS = [("k2", "new-pepper"), *settings.HEATSITE_TOKEN_PEPPERS]
    new, new_secret = services.create_token(engineer, name="new")
    assert new.pepper_id == "k2"
    assert services.authenticate(secret, None).pk == token.pk
    settings.HEATSITE_TOKEN_PEPPERS = [("k2", "new-pepper")]
    with pytest.raises(services.TokenRefused, match="Invalid"):
        services.authenticate(secret, None)
    assert services.authenticate(new_secret, None).pk == new.pk
