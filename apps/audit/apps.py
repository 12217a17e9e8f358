from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class AuditConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.audit"
    verbose_name = gettext_lazy("Audit")

    def ready(self) -> None:
        # Logins have no service of ours to go through: Django's signals are the only hook.
        from django.contrib.auth import signals

        from apps.audit import receivers

        signals.user_logged_in.connect(receivers.logged_in, dispatch_uid="audit-login")
        signals.user_logged_out.connect(receivers.logged_out, dispatch_uid="audit-logout")
        signals.user_login_failed.connect(receivers.login_failed, dispatch_uid="audit-login-failed")
