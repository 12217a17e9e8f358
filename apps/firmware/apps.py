from django.apps import AppConfig


class FirmwareConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.firmware"
