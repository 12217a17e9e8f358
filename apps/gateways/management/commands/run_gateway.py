"""Runs a site gateway: ``manage.py run_gateway --config FILE`` (apps.gateways.agent).

The gateway needs no database: it never opens one (``python -m apps.gateways.agent --config
FILE`` runs the same without Django settings at all).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.gateways import agent, crypto


class Command(BaseCommand):
    help = "Runs a site gateway (a Celery worker for one site's hardware) from its config file."
    requires_system_checks: list[str] = []  # no database, no checks that would want one
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--config", required=True, help="the gateway's TOML file")

    def handle(self, *args, config, **options):
        try:
            gateway = agent.Gateway(agent.config_load(config))
        except (agent.ConfigError, crypto.SealError) as error:
            raise CommandError(str(error)) from None
        gateway.run()
