from django.apps import AppConfig


class OpsConfig(AppConfig):
    """What operations watch: Prometheus metrics, liveness and readiness."""

    name = "apps.ops"
    label = "ops"

    def ready(self) -> None:
        from . import celery_signals  # noqa: F401  (connects the Celery signal handlers)
