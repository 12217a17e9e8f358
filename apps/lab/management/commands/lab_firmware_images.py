"""``manage.py lab_firmware_images --release 1.5.0 --out DIR``: a lab release's firmware images.

Writes the BMC and BIOS images of one lab firmware release (`apps.lab.firmware`), as the lab
BMCs accept them over Redfish (push or SimpleUpdate), and prints each file with its size and
SHA-256: the material of a demo firmware bundle. Existing files of the same name are replaced.
"""

import hashlib
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.lab.firmware import LAB_FIRMWARE_VERSIONS, LAB_SKU, files_write, release_images


class Command(BaseCommand):
    help = "Write the BMC and BIOS firmware images of one lab release into a directory."

    def add_arguments(self, parser):
        # --release, as lab_control's flash (Django keeps --version for itself)
        parser.add_argument(
            "--release", required=True, help=f"lab release: {', '.join(LAB_FIRMWARE_VERSIONS)}"
        )
        parser.add_argument("--out", required=True, help="directory (created if missing)")

    def handle(self, *args, release, out, **options):
        try:
            images = release_images(release)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        folder = Path(out)
        try:
            files_write(folder, images)
        except OSError as exc:
            raise CommandError(f"cannot write the images into {folder}: {exc}") from None
        self.stdout.write(f"lab firmware release {release} for SKU {LAB_SKU}:")
        for name, data in images.items():
            digest = hashlib.sha256(data).hexdigest()
            self.stdout.write(f"{folder / name}  {len(data)} bytes  sha256 {digest}")
