"""allauth's forms with what it leaves untranslated: the passkey's name field has no label of
its own (Django derives an English "Name" from the field), so it is given one here
(``MFA_FORMS`` in settings)."""

from allauth.mfa.webauthn.forms import AddWebAuthnForm
from django.utils.translation import gettext_lazy


class AddPasskeyForm(AddWebAuthnForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].label = gettext_lazy("Name")
