"""allauth adapters: closed registration, Django's login wording, factor secrets encrypted."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from django.utils.translation import gettext_lazy as _

from apps.core import crypto
from apps.identity import factors


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are created by administrators only (admin site, `seed_demo`): no sign-up."""

    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "username_password_mismatch": _(
            "Please enter a correct username and password. Both fields may be case-sensitive."
        ),
    }

    def is_open_for_signup(self, request) -> bool:
        return False


class MFAAdapter(DefaultMFAAdapter):
    """TOTP secrets and recovery-code seeds are stored encrypted with the credential keys
    (apps.core.crypto, CREDENTIAL_KEYS: the keys BMC passwords use, rotated the same way)."""

    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text)

    def get_totp_issuer(self) -> str:
        return "Heatsite"

    def can_delete_authenticator(self, authenticator) -> bool:
        """A role that requires a factor cannot remove its last one (an admin can reset it)."""
        user = authenticator.user
        if not factors.factor_required(user) or authenticator.type not in factors.FACTOR_TYPES:
            return True
        others = (
            type(authenticator)
            .objects.filter(user_id=user.pk, type__in=factors.FACTOR_TYPES)
            .exclude(pk=authenticator.pk)
        )
        return others.exists()
