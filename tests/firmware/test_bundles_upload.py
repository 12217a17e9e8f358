"""A bundle is kept only when signed by a trusted release key and whole: every refusal says why,
is audited, and keeps nothing (no bundle, no image)."""

import base64
import hashlib
import json

import pytest

from apps.audit.models import AuditEvent
from apps.firmware.bundles import BundleRefused, bundle_store
from apps.firmware.manifests import canonical_bytes, version_key
from apps.firmware.models import BundleComponent, FirmwareBundle, FirmwareImage
from apps.firmware.signatures import signature_verify
from apps.lab.bundles import lab_bundle
from apps.lab.redfish.updates import build_image
from heatsite import settings as project_settings
from tests.firmware.bundle_kit import lab_release_bundle, make_key

pytestmark = pytest.mark.django_db


def store(bundle, signature, actor=None):
    return bundle_store(
        actor=actor,
        manifest=bundle.manifest_bytes(),
        signature=signature,
        images=bundle.images,
        predict_now=False,
    )


@pytest.mark.parametrize("key_name", ["ed_key", "ec_key"])
def test_a_signed_lab_bundle_is_kept_with_its_images_in_apply_order(
    request, trusted, lab_reference, engineer, key_name
):
    key = request.getfixturevalue(key_name)
    bundle = lab_release_bundle("1.5.0")
    kept = store(bundle, bundle.signature(key), actor=engineer)

    assert kept.profile.sku == "HS-EDGE-1" and kept.version == "1.5.0"
    assert kept.signature_key_id == key.key_id
    assert kept.signature_alg == ("ed25519" if key_name == "ed_key" else "ecdsa-p256-sha256")
    assert kept.manifest_sha256 == hashlib.sha256(canonical_bytes(bundle.manifest)).hexdigest()
    assert kept.release == lab_reference["1.5.0"] and kept.measurement_source == "artefacts"
    assert kept.requires == [
        {"component": "BIOS", "requires": [{"component": "BMC", "min_version": "2.42"}]}
    ]
    components = list(kept.components.select_related("image"))
    assert [(c.position, c.component, c.version) for c in components] == [
        (0, "BMC", "2.42"),
        (1, "BIOS", "1.5.0"),
    ]
    for component in components:
        data = bundle.images[component.file_name]
        assert component.image.sha256 == hashlib.sha256(data).hexdigest()
        assert component.image.size == len(data)
        with component.image.file.open("rb") as stored:
            assert stored.read() == data
    event = AuditEvent.objects.get(action="firmware.bundle_upload")
    assert event.result == AuditEvent.Result.OK and event.actor == engineer


def test_the_signature_covers_the_manifest_not_its_formatting(trusted, lab_reference, ed_key):
    bundle = lab_release_bundle()
    signature = bundle.signature(ed_key)
    compact = json.dumps(bundle.manifest, separators=(",", ":")).encode()
    kept = bundle_store(
        actor=None, manifest=compact, signature=signature, images=bundle.images, predict_now=False
    )
    assert kept.version == "1.5.0"


def test_an_image_already_kept_is_shared_not_stored_twice(trusted, lab_reference, ed_key):
    first = lab_release_bundle("1.5.0")
    store(first, first.signature(ed_key))
    again = lab_release_bundle("1.5.0")
    again.manifest["version"] = "1.5.0-1"
    store(again, again.signature(ed_key))
    assert FirmwareImage.objects.count() == 2
    assert BundleComponent.objects.count() == 4


def _tamper_payload(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def _unsigned(bundle, keys):
    return None


def _unknown_key(bundle, keys):
    return bundle.signature(make_key("someone-else"))


def _altered_after_signing(bundle, keys):
    signature = bundle.signature(keys["ed"])
    bundle.manifest["components"][0]["version"] = "2.99"
    return signature


def _wrong_algorithm(bundle, keys):
    body = json.loads(bundle.signature(keys["ed"]))
    body["alg"] = "ecdsa-p256-sha256"
    return json.dumps(body).encode()


def _garbled_signature(bundle, keys):
    return b"not a signature file"


def _digest_mismatch(bundle, keys):
    name = bundle.manifest["components"][1]["file"]
    bundle.images[name] = _tamper_payload(bundle.images[name])  # same size, other bytes
    return bundle.signature(keys["ed"])


def _size_mismatch(bundle, keys):
    name = bundle.manifest["components"][0]["file"]
    bundle.images[name] += b"\0"
    return bundle.signature(keys["ed"])


def _unknown_sku(bundle, keys):
    bundle.manifest["sku"] = "HS-OTHER-9"
    for item in bundle.manifest["components"]:
        bundle.images[item["file"]] = build_image(
            item["component"], item["version"], sku="HS-OTHER-9"
        )
    bundle.refresh_digests()
    return bundle.signature(keys["ed"])


def _image_check_fails(bundle, keys):
    # signed and digested as it is, but the image's own payload digest is wrong
    name = bundle.manifest["components"][1]["file"]
    bundle.images[name] = _tamper_payload(bundle.images[name])
    bundle.refresh_digests()
    return bundle.signature(keys["ed"])


def _image_is_another_component(bundle, keys):
    bios = bundle.manifest["components"][1]
    bundle.images[bios["file"]] = build_image("BMC", "1.5.0")
    bundle.refresh_digests()
    return bundle.signature(keys["ed"])


def _dependency_cycle(bundle, keys):
    bundle.manifest["requires"].append(
        {"component": "BMC", "requires": [{"component": "BIOS", "min_version": "1.0"}]}
    )
    return bundle.signature(keys["ed"])


def _unsatisfiable_version(bundle, keys):
    bundle.manifest["requires"][0]["requires"][0]["min_version"] = "2.50"
    return bundle.signature(keys["ed"])


def _unsatisfiable_order(bundle, keys):
    bundle.manifest["order"] = ["BIOS", "BMC"]
    return bundle.signature(keys["ed"])


def _empty_range(bundle, keys):
    # numerically 2.42 lies within [2.9, 2.100]: only the CPLD's empty range is wrong
    bundle.manifest["requires"][0]["requires"][0].update(min_version="2.9", max_version="2.100")
    bundle.manifest["requires"][0]["requires"].append(
        {"component": "CPLD", "min_version": "3", "max_version": "2.9"}
    )
    return bundle.signature(keys["ed"])


def _missing_image(bundle, keys):
    del bundle.images[bundle.manifest["components"][0]["file"]]
    return bundle.signature(keys["ed"])


def _unexpected_file(bundle, keys):
    bundle.images["notes.txt"] = b"hello"
    return bundle.signature(keys["ed"])


def _unknown_component(bundle, keys):
    bundle.manifest["components"][0]["component"] = "GPU"
    return bundle.signature(keys["ed"])


REFUSALS = {
    "unsigned": (_unsigned, "unsigned", "not signed"),
    "unknown_key": (
        _unknown_key,
        "unknown_key",
        "'someone-else', which is not a trusted release key",
    ),
    "bad_signature": (_altered_after_signing, "bad_signature", "does not match the manifest"),
    "bad_signature_alg": (
        _wrong_algorithm,
        "bad_signature",
        "is an ed25519 key; the signature says",
    ),
    "bad_signature_file": (_garbled_signature, "bad_signature", "is not {key_id, alg, signature"),
    "digest_mismatch": (_digest_mismatch, "digest_mismatch", "altered or corrupted"),
    "size_mismatch": (_size_mismatch, "size_mismatch", "bytes; the manifest says"),
    "unknown_sku": (_unknown_sku, "unknown_sku", "'HS-OTHER-9' is not a platform profile"),
    "bad_image": (_image_check_fails, "bad_image", "does not match the manifest's SHA-256"),
    "bad_image_component": (
        _image_is_another_component,
        "bad_image",
        "is BMC 1.5.0 for SKU HS-EDGE-1",
    ),
    "dependency_cycle": (
        _dependency_cycle,
        "dependency_cycle",
        "Dependency cycle: BIOS → BMC → BIOS",
    ),
    "unsatisfiable": (
        _unsatisfiable_version,
        "unsatisfiable",
        "BMC ≥ 2.50, but the bundle ships BMC 2.42",
    ),
    "unsatisfiable_order": (_unsatisfiable_order, "unsatisfiable", "applies BIOS before BMC"),
    "unsatisfiable_range": (_empty_range, "unsatisfiable", "CPLD ≥ 3, ≤ 2.9 (empty range)"),
    "missing_file": (_missing_image, "missing_file", "BMC image bmc-2.42.hsfw is missing"),
    "unexpected_file": (
        _unexpected_file,
        "unexpected_file",
        "notes.txt: not a file of this bundle",
    ),
    "bad_manifest": (_unknown_component, "bad_manifest", "unknown component 'GPU'"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_refused_bundle_says_why_is_audited_and_keeps_nothing(
    trusted, lab_reference, ed_key, ec_key, engineer, case
):
    alter, code, reason = REFUSALS[case]
    bundle = lab_release_bundle()
    signature = alter(bundle, {"ed": ed_key, "ec": ec_key})

    with pytest.raises(BundleRefused) as refused:
        store(bundle, signature, actor=engineer)

    assert refused.value.code == code
    assert reason in str(refused.value)
    assert not FirmwareBundle.objects.exists()
    assert not FirmwareImage.objects.exists()
    event = AuditEvent.objects.get(action="firmware.bundle_upload")
    assert event.result == AuditEvent.Result.REFUSED
    assert event.detail["code"] == code


def test_a_version_is_uploaded_once(trusted, lab_reference, ed_key):
    bundle = lab_release_bundle()
    store(bundle, bundle.signature(ed_key))
    bundle.manifest["name"] = "rebuilt"
    with pytest.raises(BundleRefused) as refused:
        store(bundle, bundle.signature(ed_key))
    assert refused.value.code == "duplicate_version"
    assert FirmwareBundle.objects.count() == 1


def test_an_unreadable_manifest_is_refused(trusted, lab_reference, ed_key):
    with pytest.raises(BundleRefused) as refused:
        bundle_store(actor=None, manifest=b"{nope", signature=b"{}", images={})
    assert refused.value.code == "bad_manifest"


def test_release_keys_rotate_a_removed_key_is_refused_a_new_one_accepted(
    settings, lab_reference, ed_key, ec_key
):
    settings.FIRMWARE_RELEASE_KEYS = {ed_key.key_id: ed_key.public_pem}
    old = lab_release_bundle("1.4.0")
    store(old, old.signature(ed_key))

    new_key = make_key("release-2027", "ecdsa")
    settings.FIRMWARE_RELEASE_KEYS = {new_key.key_id: new_key.public_pem}
    bundle = lab_release_bundle("1.5.0")
    with pytest.raises(BundleRefused) as refused:
        store(bundle, bundle.signature(ed_key))
    assert refused.value.code == "unknown_key"

    kept = store(bundle, bundle.signature(new_key))
    assert kept.signature_key_id == "release-2027"


def test_a_trusted_key_id_with_another_key_behind_it_is_a_bad_signature(
    settings, lab_reference, ed_key
):
    impostor = make_key(ed_key.key_id)  # same id, other key
    settings.FIRMWARE_RELEASE_KEYS = {ed_key.key_id: ed_key.public_pem}
    bundle = lab_release_bundle()
    with pytest.raises(BundleRefused) as refused:
        store(bundle, bundle.signature(impostor))
    assert refused.value.code == "bad_signature"


def test_the_demo_key_signs_what_development_settings_trust(lab_reference):
    manifest, signature, _images = lab_bundle("1.5.0")
    body = json.loads(signature)
    assert body["key_id"] == "heatsite-lab-demo"
    assert base64.b64decode(body["signature"])
    facts = signature_verify(
        canonical_bytes(json.loads(manifest)),
        signature,
        {"heatsite-lab-demo": project_settings._LAB_DEMO_RELEASE_KEY},
    )
    assert facts.alg == "ed25519"


@pytest.mark.parametrize(
    ("lower", "higher"), [("2.9", "2.10"), ("1.4.0", "1.5"), ("2.42", "10.0"), ("1", "1.0.1")]
)
def test_versions_compare_numerically(lower, higher):
    assert version_key(lower) < version_key(higher)
    assert version_key("1.5") == version_key("1.5.0")


def test_a_huge_value_in_a_manifest_is_not_echoed_whole(trusted, lab_reference, ed_key):
    bundle = lab_release_bundle()
    bundle.manifest["version"] = "x" * 20_000
    with pytest.raises(BundleRefused) as refused:
        store(bundle, bundle.signature(ed_key))
    assert refused.value.code == "bad_manifest" and len(str(refused.value)) <= 500


def test_an_upload_that_loses_the_race_for_its_version_is_a_duplicate_and_leaves_no_file(
    trusted, lab_reference, ed_key, monkeypatch, settings
):
    from apps.firmware import bundles

    checks = bundles._verified

    def racing(*args):
        result = checks(*args)
        manifest, _, profile, _ = result
        # another upload of the same version is committed between the checks and the write
        FirmwareBundle.objects.create(
            profile=profile,
            version=manifest.version,
            manifest={},
            manifest_sha256="0" * 64,
            measurement_source="artefacts",
            signature_alg="ed25519",
            signature_key_id="other",
            signature_key_sha256="0" * 64,
            signature="",
        )
        return result

    monkeypatch.setattr(bundles, "_verified", racing)
    bundle = lab_release_bundle()
    with pytest.raises(BundleRefused) as refused:
        store(bundle, bundle.signature(ed_key))
    assert refused.value.code == "duplicate_version"
    assert not FirmwareImage.objects.exists()
    # the images were written before the bundle row failed: their files are gone again
    assert not [p for p in settings.FIRMWARE_IMAGE_ROOT.rglob("*") if p.is_file()]
