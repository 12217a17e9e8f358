from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class SitesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.sites"
    verbose_name = gettext_lazy("Sites")
