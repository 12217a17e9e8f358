from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class TokensConfig(AppConfig):
    """API tokens: hashed with a server-side pepper, scoped, expiring, revocable."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.tokens"
    verbose_name = gettext_lazy("API tokens")
    label = "tokens"

    def ready(self) -> None:
        from apps.tokens import schema  # noqa: F401  (registers the OpenAPI security scheme)
