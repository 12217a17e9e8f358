from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """Second factors, lockout, re-authentication and sessions: how a person proves who they are."""

    name = "apps.identity"
    label = "identity"

    def ready(self) -> None:
        from allauth.account.decorators import secure_admin_login
        from allauth.mfa import signals
        from django.contrib import admin

        from apps.identity import receivers

        signals.authenticator_added.connect(receivers.authenticator_added, dispatch_uid="id-add")
        signals.authenticator_removed.connect(
            receivers.authenticator_removed, dispatch_uid="id-remove"
        )
        signals.authenticator_reset.connect(receivers.authenticator_reset, dispatch_uid="id-reset")
        signals.authenticator_used.connect(receivers.authenticator_used, dispatch_uid="id-used")
        # The admin site logs in through the same door (login form, factor, lockout).
        admin.site.login = secure_admin_login(admin.site.login)
        # Shrinking access or changing factors ends sessions (apps.identity.session_receivers).
        from apps.identity import checks, lockout_receivers, session_receivers  # noqa: F401

        session_receivers.connect()
        lockout_receivers.connect()
