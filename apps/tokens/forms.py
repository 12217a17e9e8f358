"""The account page's "new API token" form."""

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.accounts.policy import grantable_scopes
from apps.tokens import services
from apps.tokens.models import Scope


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("What uses it."))
    scope = forms.ChoiceField(label=_("Scope"), choices=Scope.choices)
    days = forms.IntegerField(
        label=_("Expires after (days)"),
        min_value=1,
        max_value=services.MAX_DAYS,
        initial=services.DEFAULT_DAYS,
    )
    allowed_ips = forms.CharField(
        label=_("Allowed addresses"),
        required=False,
        help_text=_("Optional: IP addresses or ranges (CIDR), separated by spaces or commas."),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        allowed = grantable_scopes(user.role)
        self.fields["scope"].choices = [(v, label) for v, label in Scope.choices if v in allowed]
        self.fields["scope"].initial = Scope.READ

    def clean_allowed_ips(self) -> list[str]:
        try:
            return services.parse_ip_ranges(self.cleaned_data["allowed_ips"])
        except services.TokenError as exc:
            raise forms.ValidationError(str(exc)) from None
