from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """Second factors, lockout, re-authentication and sessions: how a person proves who they are."""

    name = "apps.identity"
    label = "identity"
