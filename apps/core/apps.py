from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    default = True
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.core"

    def ready(self) -> None:
        from apps.core import checks  # noqa: F401  (registers the system checks)


class HeatsiteAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "apps.core.admin_site.HeatsiteAdminSite"
