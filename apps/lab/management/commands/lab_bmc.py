"""``manage.py lab_bmc``: run simulated IPMI BMCs in the foreground (demo and manual tests)."""

from django.core.management.base import BaseCommand, CommandError

from apps.lab.bmc import cli


class Command(BaseCommand):
    help = "Run simulated IPMI 2.0 BMCs on consecutive UDP ports of 127.0.0.1."

    def add_arguments(self, parser):
        cli.build_parser(parser)

    def handle(self, *args, **options):
        import argparse

        namespace = argparse.Namespace(**options)
        try:
            cli.run(namespace, out=self.stdout)
        except (cli.ConfigError, OSError) as exc:
            raise CommandError(str(exc)) from exc
