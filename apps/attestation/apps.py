from django.apps import AppConfig


class AttestationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.attestation"
