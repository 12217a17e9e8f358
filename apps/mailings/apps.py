from django.apps import AppConfig


class MailingsConfig(AppConfig):
    """Partner contacts and the monthly statement e-mail: the partner's month comes to them."""

    name = "apps.mailings"
    label = "mailings"
    verbose_name = "Statement e-mails"
