from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class MailingsConfig(AppConfig):
    """Partner contacts and the monthly statement e-mail: the partner's month comes to them."""

    name = "apps.mailings"
    label = "mailings"
    verbose_name = gettext_lazy("Statement e-mails")
