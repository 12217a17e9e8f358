"""``manage.py firmware_bundle add|list|sign|predict``: firmware bundles from the command line.

* ``add MANIFEST [--signature FILE] [--user NAME] [--if-new]``: upload a bundle; its images are
  the files the manifest names, next to it; the signature defaults to ``MANIFEST.sig``. Exit 1
  with the reason when it is refused (``--if-new``: the same manifest already kept is not).
* ``list``: the bundles, newest first, with their signing key and predictions.
* ``sign MANIFEST --key PRIVATE.pem [--key-id ID] [--out FILE]``: a developer's or CI's tool:
  checks the manifest and its images, then writes the detached signature (``MANIFEST.sig``).
* ``predict ID``: compute the bundle's predictions again (configurations or releases changed).
"""

from __future__ import annotations

from hashlib import sha256
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import User
from apps.firmware.bundles import BundleRefused, bundle_predict, bundle_store
from apps.firmware.manifests import canonical_bytes, manifest_check, manifest_load
from apps.firmware.models import FirmwareBundle
from apps.firmware.signatures import signature_create


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


class Command(BaseCommand):
    help = "Upload, list, sign and predict firmware bundles."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        add = sub.add_parser("add", help="upload a signed bundle (images next to the manifest)")
        add.add_argument("manifest")
        add.add_argument("--signature", help="signature file (default: MANIFEST.sig)")
        add.add_argument("--user", help="username recorded as the uploader (an engineer)")
        add.add_argument(
            "--if-new",
            action="store_true",
            help="the same manifest already kept is not an error (re-runnable, e.g. make demo)",
        )
        sub.add_parser("list", help="the bundles, newest first")
        sign = sub.add_parser("sign", help="sign a manifest with a release key (PEM)")
        sign.add_argument("manifest")
        sign.add_argument("--key", required=True, help="private key PEM (Ed25519 or P-256)")
        sign.add_argument("--key-id", default="", help="default: the key's fingerprint prefix")
        sign.add_argument("--out", help="signature file (default: MANIFEST.sig)")
        predict = sub.add_parser("predict", help="compute a bundle's predictions again")
        predict.add_argument("bundle_id", type=int)

    def handle(self, *args, verb, **options):
        getattr(self, f"_{verb}")(**options)

    def _images(self, folder: Path, data: dict) -> dict[str, bytes]:
        images = {}
        for item in data.get("components") or []:
            name = item.get("file") if isinstance(item, dict) else None
            # names are checked by the manifest checks; here only what can be read safely
            if isinstance(name, str) and name and "/" not in name and name not in {".", ".."}:
                path = folder / name
                if path.is_file():
                    images[name] = _read(path, "image")
        return images

    def _add(self, *, manifest, signature, user, if_new, **options):
        path = Path(manifest)
        raw = _read(path, "manifest")
        if if_new:
            try:
                digest = sha256(canonical_bytes(manifest_load(raw))).hexdigest()
            except BundleRefused:
                digest = ""  # add refuses it below, with the reason
            kept = FirmwareBundle.objects.filter(manifest_sha256=digest).first()
            if kept is not None:
                self.stdout.write(f"bundle {kept.pk}: {path.name} is already kept")
                return
        sig_path = Path(signature) if signature else path.with_name(path.name + ".sig")
        sig = _read(sig_path, "signature") if signature or sig_path.exists() else None
        actor = None
        if user:
            actor = User.objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"no user {user!r}")
        try:
            data = manifest_load(raw)
            bundle = bundle_store(
                actor=actor, manifest=raw, signature=sig, images=self._images(path.parent, data)
            )
        except BundleRefused as refused:
            raise CommandError(f"bundle refused ({refused.code}): {refused}") from None
        counts = self._counts(bundle)
        self.stdout.write(
            f"bundle {bundle.pk}: {bundle.profile.sku} {bundle.version}, signed by "
            f"{bundle.signature_key_id} ({bundle.signature_alg}); predicted "
            f"{counts['predicted']} nodes, {counts['impossible']} impossible"
        )

    def _counts(self, bundle: FirmwareBundle) -> dict[str, int]:
        rows = list(bundle.predictions.values_list("pcrs", flat=True))
        predicted = sum(1 for pcrs in rows if pcrs is not None)
        return {"predicted": predicted, "impossible": len(rows) - predicted}

    def _list(self, **options):
        bundles = FirmwareBundle.objects.select_related("profile").prefetch_related("components")
        if not bundles:
            self.stdout.write("no firmware bundles")
        for bundle in bundles:
            counts = self._counts(bundle)
            parts = ", ".join(f"{c.component} {c.version}" for c in bundle.components.all())
            self.stdout.write(
                f"{bundle.pk}\t{bundle.profile.sku}\t{bundle.version}\t{parts}\t"
                f"key {bundle.signature_key_id}\t{counts['predicted']} predicted, "
                f"{counts['impossible']} impossible\t{bundle.uploaded_at:%Y-%m-%d %H:%M}Z"
            )

    def _sign(self, *, manifest, key, key_id, out, **options):
        path = Path(manifest)
        try:
            data = manifest_load(_read(path, "manifest"))
            checked = manifest_check(data)
        except BundleRefused as refused:
            raise CommandError(f"manifest refused ({refused.code}): {refused}") from None
        images = self._images(path.parent, data)
        for entry in checked.components:
            image = images.get(entry.file)
            if image is None:
                raise CommandError(f"{entry.file} (next to the manifest) is missing")
            if len(image) != entry.size or sha256(image).hexdigest() != entry.sha256:
                raise CommandError(
                    f"{entry.file} does not match the manifest's size and SHA-256: not signing"
                )
        try:
            signature = signature_create(
                canonical_bytes(data), _read(Path(key), "key"), key_id=key_id
            )
        except ValueError as exc:
            raise CommandError(f"cannot sign with {key}: {exc}") from None
        target = Path(out) if out else path.with_name(path.name + ".sig")
        try:
            target.write_bytes(signature)
        except OSError as exc:
            raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None
        self.stdout.write(f"signed {path.name} ({checked.sha256[:16]}…) -> {target}")

    def _predict(self, *, bundle_id, **options):
        bundle = FirmwareBundle.objects.select_related("profile", "release").filter(pk=bundle_id)
        found = bundle.first()
        if found is None:
            raise CommandError(f"no firmware bundle {bundle_id}")
        counts = bundle_predict(bundle=found, audit=True)
        self.stdout.write(
            f"bundle {found.pk}: {counts['predicted']} nodes predicted, "
            f"{counts['impossible']} impossible"
        )
