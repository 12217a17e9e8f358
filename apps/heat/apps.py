from django.apps import AppConfig


class HeatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.heat"
