"""The command line: the lab writes its releases as signed bundles, ``firmware_bundle sign``
signs a manifest, ``add`` uploads (a refusal is an error with the reason: exit status 1),
``list`` shows them, ``predict`` computes again."""

import json
from io import StringIO

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.firmware.models import FirmwareBundle
from apps.lab.bundles import DEMO_KEY_ID
from apps.lab.tpm.seed import seed_lab_nodes
from heatsite import settings as project_settings
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo_trusted(settings):
    settings.FIRMWARE_RELEASE_KEYS = {DEMO_KEY_ID: project_settings._LAB_DEMO_RELEASE_KEY}


def test_the_lab_bundles_upload_as_the_demo_would(tmp_path, demo_trusted, lab_reference, site,
                                                  engineer):  # fmt: skip
    seed_lab_nodes([NodeFactory(site=site)])
    for release in ("1.4.0", "1.5.0"):
        run("lab_firmware_bundle", "--release", release, "--out", str(tmp_path / release))
        out = run("firmware_bundle", "add", str(tmp_path / release / "bundle.json"),
                  "--user", "engineer")  # fmt: skip
        assert f"HS-EDGE-1 {release}, signed by {DEMO_KEY_ID} (ed25519)" in out
        assert "predicted 1 nodes, 0 impossible" in out
    assert FirmwareBundle.objects.count() == 2
    assert AuditEvent.objects.filter(action="firmware.bundle_upload", actor=engineer).count() == 2

    listing = run("firmware_bundle", "list")
    assert "HS-EDGE-1\t1.5.0\tBMC 2.42, BIOS 1.5.0" in listing
    assert "HS-EDGE-1\t1.4.0\tBMC 2.41, BIOS 1.4.0" in listing

    # re-runnable: the same manifest again is no error with --if-new, a duplicate without
    bundle_json = str(tmp_path / "1.5.0" / "bundle.json")
    assert "is already kept" in run("firmware_bundle", "add", bundle_json, "--if-new")
    with pytest.raises(CommandError, match=r"\(duplicate_version\)"):
        run("firmware_bundle", "add", bundle_json)
    assert FirmwareBundle.objects.count() == 2

    again = FirmwareBundle.objects.get(version="1.5.0")
    assert "1 nodes predicted" in run("firmware_bundle", "predict", str(again.pk))


def test_a_refused_bundle_is_a_command_error_with_the_reason(tmp_path, demo_trusted,
                                                             lab_reference):  # fmt: skip
    run("lab_firmware_bundle", "--release", "1.5.0", "--out", str(tmp_path))
    image = tmp_path / "bios-1.5.0.hsfw"
    image.write_bytes(image.read_bytes() + b"\0")
    with pytest.raises(CommandError, match=r"bundle refused \(size_mismatch\)"):
        run("firmware_bundle", "add", str(tmp_path / "bundle.json"))
    (tmp_path / "bundle.json.sig").unlink()
    with pytest.raises(CommandError, match=r"\(unsigned\)"):
        run("firmware_bundle", "add", str(tmp_path / "bundle.json"))
    with pytest.raises(CommandError, match="cannot read the manifest"):
        run("firmware_bundle", "add", str(tmp_path / "missing.json"))
    assert not FirmwareBundle.objects.exists()


def test_sign_then_add_with_a_release_key_of_ones_own(tmp_path, trusted, ec_key, lab_reference):
    run("lab_firmware_bundle", "--release", "1.5.0", "--out", str(tmp_path))
    manifest = tmp_path / "bundle.json"
    data = json.loads(manifest.read_text())
    data["name"] = "built by CI"
    manifest.write_text(json.dumps(data))
    key = tmp_path / "release.pem"
    key.write_bytes(ec_key.private_pem)

    out = run("firmware_bundle", "sign", str(manifest), "--key", str(key),
              "--key-id", ec_key.key_id)  # fmt: skip
    assert "bundle.json.sig" in out
    assert "signed by release-2026-ec (ecdsa-p256-sha256)" in run(
        "firmware_bundle", "add", str(manifest)
    )
    assert FirmwareBundle.objects.get().name == "built by CI"


def test_sign_refuses_a_manifest_that_does_not_describe_its_images(tmp_path, ed_key):
    run("lab_firmware_bundle", "--release", "1.5.0", "--out", str(tmp_path))
    (tmp_path / "bmc-2.42.hsfw").write_bytes(b"HSFW\x01 something else")
    key = tmp_path / "release.pem"
    key.write_bytes(ed_key.private_pem)
    (tmp_path / "bundle.json.sig").unlink()
    with pytest.raises(CommandError, match="does not match the manifest"):
        run("firmware_bundle", "sign", str(tmp_path / "bundle.json"), "--key", str(key))
    assert not (tmp_path / "bundle.json.sig").exists()


def test_an_unknown_lab_release_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match=r"no lab firmware release '9\.9'"):
        run("lab_firmware_bundle", "--release", "9.9", "--out", str(tmp_path))


def test_a_command_error_exits_with_status_1(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(
            ["manage.py", "firmware_bundle", "sign", str(tmp_path / "none.json"), "--key", "k"]
        ).execute()
    assert exited.value.code == 1
    assert "cannot read the manifest" in capsys.readouterr().err
