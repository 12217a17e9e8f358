"""Re-encrypt stored BMC passwords and second-factor secrets under the newest key of
CREDENTIAL_KEYS."""

from django.core.management.base import BaseCommand, CommandError

from apps.core.crypto import CredentialError
from apps.identity import factors
from apps.sites.services import credentials_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypts every BMC password with the first key of CREDENTIAL_KEYS. Put the new key "
        "first, keep the old one after it, run this, then remove the old key."
    )

    def handle(self, *args, **options):
        try:
            count = credentials_rotate()
            secrets = factors.rotate_secrets()
        except CredentialError as exc:
            raise CommandError(f"{exc}; was the old key removed too early?") from exc
        self.stdout.write(f"Re-encrypted {count} BMC password(s) under the newest key.")
        self.stdout.write(f"Re-encrypted {secrets} second-factor secret(s) under the newest key.")
