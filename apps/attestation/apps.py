from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class AttestationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.attestation"
    verbose_name = gettext_lazy("Attestation")
