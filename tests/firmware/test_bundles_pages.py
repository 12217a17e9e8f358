"""The bundle pages: the list with its upload form, one bundle with its components, key and
each node's predicted PCRs or reason; only roles that manage firmware reach them."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.firmware.bundles import bundle_store
from apps.firmware.models import FirmwareBundle
from apps.lab.tpm.seed import seed_lab_nodes
from tests.factories import NodeFactory
from tests.firmware.bundle_kit import lab_release_bundle

pytestmark = pytest.mark.django_db


def form(bundle, signature):
    body = {
        "manifest": SimpleUploadedFile("bundle.json", bundle.manifest_bytes()),
        "images": [SimpleUploadedFile(n, d) for n, d in bundle.images.items()],
    }
    if signature is not None:
        body["signature"] = SimpleUploadedFile("bundle.json.sig", signature)
    return body


def test_an_engineer_uploads_through_the_form_and_sees_the_predictions(
    client, engineer, trusted, lab_reference, ed_key, site
):
    configured = NodeFactory(site=site, name="edge-a")
    seed_lab_nodes([configured])
    NodeFactory(site=site, name="edge-b", model="HS-EDGE-1")
    client.force_login(engineer)
    bundle = lab_release_bundle()

    response = client.post(reverse("firmware-bundles"), form(bundle, bundle.signature(ed_key)))

    kept = FirmwareBundle.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "firmware-bundle", args=[kept.pk]
    )
    page = client.get(response["Location"]).content.decode()
    assert "Bundle 1.5.0" in page and ed_key.key_id in page
    assert "bmc-2.42.hsfw" in page and "bios-1.5.0.hsfw" in page
    assert "1 of 2 node(s) predicted" in page
    pcr0 = kept.predictions.get(node=configured).pcrs["0"]
    assert f'title="{pcr0}"' in page
    assert "No firmware release and configuration are recorded" in page

    listing = client.get(reverse("firmware-bundles")).content.decode()
    assert reverse("firmware-bundle", args=[kept.pk]) in listing
    assert "BMC 2.42 → BIOS 1.5.0" in listing and "1 predicted" in listing


def test_a_refused_upload_shows_the_reason_and_keeps_nothing(
    client, engineer, trusted, lab_reference, ed_key
):
    client.force_login(engineer)
    bundle = lab_release_bundle()
    response = client.post(reverse("firmware-bundles"), form(bundle, None))
    assert response.status_code == 400
    assert "Bundle refused: The bundle is not signed" in response.content.decode()
    assert not FirmwareBundle.objects.exists()


def test_a_bundle_signed_by_a_key_since_removed_says_so(
    client, engineer, trusted, lab_reference, ed_key, settings
):
    bundle = lab_release_bundle()
    kept = bundle_store(
        actor=None,
        manifest=bundle.manifest_bytes(),
        signature=bundle.signature(ed_key),
        images=bundle.images,
    )
    settings.FIRMWARE_RELEASE_KEYS = {}
    client.force_login(engineer)
    page = client.get(reverse("firmware-bundle", args=[kept.pk])).content.decode()
    assert "no longer trusted" in page


@pytest.mark.parametrize(("role", "shown"), [("partner", False), ("planner", False),
                                             ("engineer", True), ("admin", True)])  # fmt: skip
def test_the_navigation_offers_firmware_to_roles_that_manage_it(client, users, role, shown):
    client.force_login(users[role])
    html = client.get(reverse("fleet")).content.decode()
    assert (f'href="{reverse("firmware-bundles")}"' in html) is shown


def test_a_planner_cannot_upload_through_the_form(client, planner, trusted, lab_reference, ed_key):
    client.force_login(planner)
    bundle = lab_release_bundle()
    response = client.post(reverse("firmware-bundles"), form(bundle, bundle.signature(ed_key)))
    assert response.status_code == 403
    assert not FirmwareBundle.objects.exists()
