"""Firmware bundles: accepted only signed and whole, stored with their images, then predicted.

`bundle_store` checks everything before it keeps anything: the manifest (format, order,
requires), the signature by a trusted release key, each image's digest and size against the
manifest and the image checks, the SKU, a version not already uploaded. Only then are the images
and the bundle written, in one transaction. A refusal is audited with its reason and raises
`BundleRefused`.

`bundle_predict` then computes, for every node of the bundle's SKU, the PCRs it will measure
with the bundle: the attestation's own `reference_for` on the node's configuration (plugged
cards, approved variants) with the bundle's firmware release in place of the one it runs.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts import access
from apps.accounts.policy import Action
from apps.attestation import predict
from apps.attestation import services as attestation_services
from apps.attestation.models import (
    Attestation,
    FirmwareRelease,
    NodeConfiguration,
    PlatformProfile,
)
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.firmware.images import BadImage, ImageFacts, image_inspect
from apps.firmware.manifests import (
    BundleRefused,
    Manifest,
    canonical_bytes,
    manifest_check,
    manifest_load,
)
from apps.firmware.models import BundleComponent, BundlePrediction, FirmwareBundle, FirmwareImage
from apps.firmware.signatures import SignatureFacts, signature_verify
from apps.sites.models import Node

logger = logging.getLogger(__name__)

__all__ = [
    "BundleRefused",
    "bundle_predict",
    "bundle_store",
    "nodes_of_sku_q",
    "sku_of_node",
]


def _check_images(
    manifest: Manifest, images: Mapping[str, bytes]
) -> list[tuple[ImageFacts, bytes]]:
    """Each component's image facts, in apply order; refused on the first mismatch."""
    wanted = {c.file for c in manifest.components}
    extra = sorted(set(images) - wanted)
    if extra:
        raise BundleRefused(
            "unexpected_file", f"{', '.join(extra)[:200]}: not a file of this bundle's manifest."
        )
    limit = settings.FIRMWARE_IMAGE_MAX_BYTES
    out = []
    for entry in manifest.components:
        data = images.get(entry.file)
        what = f"{entry.component} image {entry.file}"
        if data is None:
            raise BundleRefused("missing_file", f"The {what} is missing from the upload.")
        if len(data) != entry.size:
            raise BundleRefused(
                "size_mismatch",
                f"The {what} has {len(data)} bytes; the manifest says {entry.size}.",
            )
        if len(data) > limit:
            raise BundleRefused("bad_image", f"The {what} is larger than {limit} bytes.")
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry.sha256:
            raise BundleRefused(
                "digest_mismatch",
                f"The {what} has SHA-256 {digest}; the manifest says {entry.sha256} "
                "(altered or corrupted).",
            )
        try:
            facts = image_inspect(data)
        except BadImage as bad:
            raise BundleRefused("bad_image", f"The {what} is refused: {bad}") from None
        said = (facts.component, facts.version, facts.sku)
        if said != (entry.component, entry.version, manifest.sku):
            raise BundleRefused(
                "bad_image",
                f"The {what} is {facts.component} {facts.version} for SKU {facts.sku}; the "
                f"manifest says {entry.component} {entry.version} for SKU {manifest.sku}.",
            )
        out.append((facts, data))
    return out


def _verified(
    manifest_bytes: bytes, signature: bytes | None, images: Mapping[str, bytes]
) -> tuple[Manifest, SignatureFacts, PlatformProfile, list[tuple[ImageFacts, bytes]]]:
    data = manifest_load(manifest_bytes)
    # The signature first: an altered manifest is "bad signature", whatever else it breaks.
    signed = signature_verify(canonical_bytes(data), signature, settings.FIRMWARE_RELEASE_KEYS)
    manifest = manifest_check(data)
    profile = PlatformProfile.objects.filter(sku=manifest.sku).first()
    if profile is None:
        raise BundleRefused(
            "unknown_sku", f"SKU {manifest.sku!r} is not a platform profile Heatsite knows."
        )
    if FirmwareBundle.objects.filter(profile=profile, version=manifest.version).exists():
        raise _duplicate(manifest)
    return manifest, signed, profile, _check_images(manifest, images)


def _image_keep(
    actor: Any, facts: ImageFacts, name: str, data: bytes, saved: list[str]
) -> FirmwareImage:
    existing = FirmwareImage.objects.filter(sha256=facts.sha256).first()
    if existing is not None:
        return existing
    image = FirmwareImage(
        component=facts.component,
        version=facts.version,
        sku=facts.sku,
        sha256=facts.sha256,
        size=facts.size,
        original_name=name[:200],
        uploaded_by=actor,
    )
    image.file.save(name, ContentFile(data), save=False)
    saved.append(image.file.name)
    image.save()
    return image


def _duplicate(manifest: Manifest) -> BundleRefused:
    return BundleRefused(
        "duplicate_version",
        f"A bundle {manifest.version} for {manifest.sku} was already uploaded; a release is "
        "never replaced, give the new one its own version.",
    )


def _write(
    actor: Any,
    checked: Manifest,
    signed: SignatureFacts,
    profile: PlatformProfile,
    facts: list[tuple[ImageFacts, bytes]],
    saved: list[str],
) -> FirmwareBundle:
    with transaction.atomic():
        kept = [_image_keep(actor, fact, entry.file, data, saved)
                for entry, (fact, data) in zip(checked.components, facts, strict=True)]  # fmt: skip
        release = FirmwareRelease.objects.filter(profile=profile, version=checked.release).first()
        bundle = FirmwareBundle.objects.create(
            profile=profile,
            version=checked.version,
            name=checked.name,
            manifest=checked.data,
            manifest_sha256=checked.sha256,
            requires=list(checked.requires),
            measurement_source=checked.source,
            release_version=checked.release,
            release=release,
            golden_pcrs=checked.pcrs,
            signature_alg=signed.alg,
            signature_key_id=signed.key_id,
            signature_key_sha256=signed.key_sha256,
            signature=signed.signature,
            uploaded_by=actor,
        )
        for position, (entry, image) in enumerate(zip(checked.components, kept, strict=True)):
            BundleComponent.objects.create(
                bundle=bundle,
                position=position,
                component=entry.component,
                version=entry.version,
                image=image,
                file_name=entry.file,
            )
        audit_record(
            actor=actor,
            action="firmware.bundle_upload",
            target=bundle,
            detail={
                "bundle_id": bundle.pk,
                "sku": profile.sku,
                "version": bundle.version,
                "manifest_sha256": bundle.manifest_sha256,
                "key_id": signed.key_id,
                "components": [f"{c.component} {c.version}" for c in checked.components],
            },
        )
    return bundle


def bundle_store(
    *,
    actor: Any,
    manifest: bytes,
    signature: bytes | None,
    images: Mapping[str, bytes],
    predict_now: bool = True,
) -> FirmwareBundle:
    """Checks and keeps a signed bundle (engineers, admins; ``actor`` None: the command line),
    then predicts its nodes. `BundleRefused` (audited) says why a bundle is refused; nothing of
    a refused bundle is kept."""
    if actor is not None:
        access.require(actor, Action.MANAGE_FIRMWARE)
    actor_user = actor if getattr(actor, "is_authenticated", False) else None
    try:
        checked, signed, profile, facts = _verified(manifest, signature, images)
        saved: list[str] = []  # image files written, removed again if the transaction fails
        try:
            bundle = _write(actor_user, checked, signed, profile, facts, saved)
        except BaseException as failure:
            storage = FirmwareImage._meta.get_field("file").storage
            for name in saved:
                storage.delete(name)
            if not isinstance(failure, IntegrityError):
                raise
            # a concurrent upload won the race for this version (or for one of the images)
            if FirmwareBundle.objects.filter(profile=profile, version=checked.version).exists():
                raise _duplicate(checked) from None
            raise BundleRefused(
                "conflict", "Another upload kept one of these images at the same moment; retry."
            ) from None
    except BundleRefused as refused:
        audit_record(
            actor=actor_user,
            action="firmware.bundle_upload",
            result=AuditEvent.Result.REFUSED,
            detail={"code": refused.code, "reason": str(refused)[:500]},
        )
        raise
    if predict_now:
        bundle_predict(bundle=bundle)
    return bundle


# --- predictions ------------------------------------------------------------------------------


def nodes_of_sku_q(profile: PlatformProfile) -> Q:
    """Nodes of a SKU: configured on one of its releases, or whose model says so."""
    return Q(attestation_config__release__profile=profile) | Q(model__iexact=profile.sku)


def sku_of_node(*, configured: str | None, model: str, skus: Mapping[str, str]) -> str | None:
    """One node's SKU by the same rule, from plain values: the profile of its recorded
    configuration, else its model when that names a profile (``skus``: lower-case SKU → SKU)."""
    return configured or skus.get((model or "").lower())


def _targets(bundle: FirmwareBundle) -> list[Node]:
    """Nodes of the bundle's SKU (`nodes_of_sku_q`)."""
    return list(
        Node.objects.filter(nodes_of_sku_q(bundle.profile))
        .select_related("site", "attestation_config__release__profile")
        .order_by("name")
    )


def _latest_mismatch(node_ids: list[int]) -> dict[int, Attestation]:
    latest: dict[int, Attestation] = {}
    for row in Attestation.objects.filter(node_id__in=node_ids).order_by("node_id", "-at", "-id"):
        latest.setdefault(row.node_id, row)
    return {n: a for n, a in latest.items() if a.verdict == Attestation.Verdict.MISMATCH}


def _predict_one(
    bundle: FirmwareBundle, node: Node, mismatch: Attestation | None
) -> tuple[dict[str, str] | None, list[dict[str, str]], str, str]:
    """(pcrs, acceptable, reason_code, reason) of one node."""
    try:
        config: NodeConfiguration | None = node.attestation_config
    except NodeConfiguration.DoesNotExist:
        config = None
    if config is None:
        return (
            None,
            [],
            "no_configuration",
            (
                "No firmware release and configuration are recorded for this node: record them "
                "(attestation) before it can be predicted."
            ),
        )
    if config.release.profile_id != bundle.profile_id:
        return (
            None,
            [],
            "other_sku",
            (
                f"Its recorded configuration is for SKU {config.release.profile.sku}, not "
                f"{bundle.profile.sku}."
            ),
        )
    if bundle.release is None:
        if not bundle.release_version:
            return (
                None,
                [],
                "no_reference",
                (
                    "The bundle carries only a golden boot's PCR values, not a firmware release's "
                    "reference measurements: other nodes' configurations cannot be applied to them."
                ),
            )
        return (
            None,
            [],
            "missing_reference",
            (
                f"No reference measurements are recorded for firmware release "
                f"{bundle.release_version} of {bundle.profile.sku} (compute or harvest them)."
            ),
        )
    if not bundle.release.template:
        return (
            None,
            [],
            "missing_reference",
            (f"Firmware release {bundle.release.version} has an empty reference template."),
        )
    if mismatch is not None:
        when = timezone.localtime(mismatch.at, node.site.tzinfo).strftime("%Y-%m-%d %H:%M")
        return (
            None,
            [],
            "unapproved_variant",
            (
                f"Its last attestation ({when}) measured something outside its approved "
                f"configuration ({mismatch.reason[:200] or mismatch.reason_code}); bring its "
                "configuration up to date first."
            ),
        )
    # The node as it is (cards, boot order, approved variants), running the bundle's release;
    # the variant releases it may run today do not apply once the bundle is in place.
    substituted = copy.copy(config)
    substituted.release = bundle.release
    substituted.variants = {
        k: v for k, v in (config.variants or {}).items() if k != "release_versions"
    }
    try:
        reference = attestation_services.reference_for(substituted)
    except predict.PredictionError as exc:
        return None, [], "prediction_error", f"The prediction failed: {exc}"
    quoted = attestation_services.QUOTE_PCRS
    pcrs = {
        str(p): v for p, v in sorted(reference.prediction.pcrs["sha256"].items()) if p in quoted
    }
    acceptable = [{str(p): v for p, v in vector} for vector in reference.acceptable]
    return pcrs, acceptable, "", ""


def bundle_predict(
    *, bundle: FirmwareBundle, actor: Any = None, audit: bool = False
) -> dict[str, int]:
    """(Re)computes the bundle's prediction for every node of its SKU; {"predicted", "impossible"}.

    Run on upload, and again (``firmware_bundle predict``) once configurations or releases
    change. Nodes that left the SKU lose their row."""
    if bundle.release is None and bundle.release_version:
        # the release may have been recorded since the upload
        bundle.release = FirmwareRelease.objects.filter(
            profile=bundle.profile, version=bundle.release_version
        ).first()
    nodes = _targets(bundle)
    mismatches = _latest_mismatch([n.pk for n in nodes])
    now = timezone.now()
    counts = {"predicted": 0, "impossible": 0}
    with transaction.atomic():
        for node in nodes:
            pcrs, acceptable, code, reason = _predict_one(bundle, node, mismatches.get(node.pk))
            BundlePrediction.objects.update_or_create(
                bundle=bundle,
                node=node,
                defaults={
                    "pcrs": pcrs,
                    "acceptable": acceptable,
                    "reason_code": code,
                    "reason": reason[:500],
                    "computed_at": now,
                },
            )
            counts["predicted" if pcrs is not None else "impossible"] += 1
        bundle.predictions.exclude(node__in=nodes).delete()
        bundle.predicted_at = now
        bundle.save(update_fields=["release", "predicted_at"])
        if audit:  # on upload, the upload's own record says it
            audit_record(
                actor=actor,
                action="firmware.bundle_predict",
                target=bundle,
                detail={"bundle_id": bundle.pk, **counts},
            )
    return counts
