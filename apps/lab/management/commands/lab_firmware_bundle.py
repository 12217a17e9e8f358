"""``manage.py lab_firmware_bundle --release 1.5.0 --out DIR``: a lab release as a signed bundle.

Writes ``bundle.json`` (the manifest), ``bundle.json.sig`` (signed with the lab's DEMO key) and
the release's images into DIR, ready for ``manage.py firmware_bundle add DIR/bundle.json`` or
the API. Existing files of the same name are replaced.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.lab.bundles import lab_bundle
from apps.lab.firmware import LAB_FIRMWARE_VERSIONS, files_write


class Command(BaseCommand):
    help = "Write a lab firmware release as a signed bundle (manifest, signature, images)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--release", required=True, help=f"lab release: {', '.join(LAB_FIRMWARE_VERSIONS)}"
        )
        parser.add_argument("--out", required=True, help="directory (created if missing)")

    def handle(self, *args, release, out, **options):
        try:
            manifest, signature, images = lab_bundle(release)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        folder = Path(out)
        files = {**images, "bundle.json": manifest, "bundle.json.sig": signature}
        try:
            files_write(folder, files)
        except OSError as exc:
            raise CommandError(f"cannot write the bundle into {folder}: {exc}") from None
        self.stdout.write(
            f"lab bundle {release}: {folder / 'bundle.json'} (+ .sig, {len(images)} images)"
        )
