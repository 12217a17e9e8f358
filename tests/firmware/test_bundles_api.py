"""The bundle API: a signed multipart upload is a 201 and predicted; a refusal a 400 with the
reason; lists, detail and predictions as documented; each role as the access rules say."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.firmware.bundles import bundle_store
from apps.firmware.models import FirmwareBundle, FirmwareImage
from apps.lab.tpm.seed import seed_lab_nodes
from tests.factories import NodeFactory
from tests.firmware.bundle_kit import lab_release_bundle
from tests.test_api_schema import assert_documented

pytestmark = pytest.mark.django_db
BUNDLES = "/api/v1/firmware/bundles/"


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture
def api():
    return APIClient()


def multipart(bundle, signature):
    body = {
        "manifest": SimpleUploadedFile("bundle.json", bundle.manifest_bytes()),
        "images": [SimpleUploadedFile(name, data) for name, data in bundle.images.items()],
    }
    if signature is not None:
        body["signature"] = SimpleUploadedFile("bundle.json.sig", signature)
    return body


def test_an_engineer_uploads_a_signed_bundle_and_reads_its_predictions(
    api, engineer, trusted, lab_reference, ed_key, site, schema
):
    configured = NodeFactory(site=site, name="edge-a")
    seed_lab_nodes([configured])
    bare = NodeFactory(site=site, name="edge-b", model="HS-EDGE-1")
    bundle = lab_release_bundle("1.5.0")
    api.force_authenticate(engineer)

    response = api.post(BUNDLES, multipart(bundle, bundle.signature(ed_key)), format="multipart")

    assert response.status_code == 201, response.content
    assert_documented(schema, response, "post", BUNDLES)
    body = response.json()
    assert (body["sku"], body["version"], body["uploaded_by"]) == ("HS-EDGE-1", "1.5.0", "engineer")
    assert [(c["component"], c["version"]) for c in body["components"]] == [
        ("BMC", "2.42"),
        ("BIOS", "1.5.0"),
    ]
    assert body["signature"]["key_id"] == ed_key.key_id
    assert body["measurements"] == {
        "source": "artefacts",
        "release": "1.5.0",
        "release_recorded": True,
        "pcrs": {},
    }
    assert (body["predicted"], body["impossible"]) == (1, 1)

    detail = api.get(body["url"])
    assert detail.status_code == 200 and detail.json()["id"] == body["id"]
    assert_documented(schema, detail, "get", "/api/v1/firmware/bundles/{id}/")

    predictions = api.get(body["predictions_url"])
    assert_documented(schema, predictions, "get", "/api/v1/firmware/bundles/{id}/predictions/")
    rows = {r["node_name"]: r for r in predictions.json()["results"]}
    kept = FirmwareBundle.objects.get(pk=body["id"]).predictions.get(node=configured)
    assert rows["edge-a"]["pcrs"] == kept.pcrs and len(rows["edge-a"]["pcrs"]) == 8
    assert rows["edge-a"]["reason"] is None
    assert rows["edge-b"]["pcrs"] is None and rows["edge-b"]["node"] == bare.pk
    assert "No firmware release and configuration" in rows["edge-b"]["reason"]

    listing = api.get(BUNDLES)
    assert_documented(schema, listing, "get", BUNDLES)
    assert [b["id"] for b in listing.json()["results"]] == [body["id"]]


def _altered(bundle, key):
    signature = bundle.signature(key)
    bundle.manifest["name"] = "not what was signed"
    return signature


@pytest.mark.parametrize(
    ("alter", "code", "words"),
    [
        (lambda bundle, key: None, "unsigned", "not signed"),
        (_altered, "bad_signature", "does not match the manifest"),
    ],
)
def test_a_refused_upload_is_a_400_with_the_reason_and_nothing_kept(
    api, engineer, trusted, lab_reference, ed_key, schema, alter, code, words
):
    bundle = lab_release_bundle()
    signature = alter(bundle, ed_key)
    api.force_authenticate(engineer)
    response = api.post(BUNDLES, multipart(bundle, signature), format="multipart")
    assert response.status_code == 400
    assert_documented(schema, response, "post", BUNDLES)
    assert response.json()["code"] == code and words in response.json()["detail"]
    assert not FirmwareBundle.objects.exists() and not FirmwareImage.objects.exists()


def test_an_upload_without_a_manifest_says_so(api, engineer, trusted, schema):
    api.force_authenticate(engineer)
    response = api.post(
        BUNDLES, {"images": [SimpleUploadedFile("x.hsfw", b"x")]}, format="multipart"
    )
    assert response.status_code == 400 and "manifest" in response.json()["detail"]
    assert_documented(schema, response, "post", BUNDLES)


def test_an_image_over_the_size_limit_is_refused(api, engineer, trusted, lab_reference, ed_key,
                                                 settings):  # fmt: skip
    settings.FIRMWARE_IMAGE_MAX_BYTES = 100
    bundle = lab_release_bundle()
    api.force_authenticate(engineer)
    response = api.post(BUNDLES, multipart(bundle, bundle.signature(ed_key)), format="multipart")
    assert response.status_code == 400 and response.json()["code"] == "bad_image"
    assert "at most 100" in response.json()["detail"]


@pytest.mark.parametrize(
    ("role", "code"), [("partner", 403), ("planner", 403), ("engineer", 201), ("admin", 201)]
)
def test_who_may_upload_a_bundle(api, users, trusted, lab_reference, ed_key, role, code):
    bundle = lab_release_bundle()
    api.force_authenticate(users[role])
    response = api.post(BUNDLES, multipart(bundle, bundle.signature(ed_key)), format="multipart")
    assert response.status_code == code
    assert FirmwareBundle.objects.exists() is (code == 201)


@pytest.mark.parametrize(
    ("role", "code"), [("partner", 403), ("planner", 403), ("engineer", 200), ("admin", 200)]
)
def test_who_may_read_bundles_and_predictions(
    api, users, trusted, lab_reference, ed_key, role, code
):
    bundle = lab_release_bundle()
    kept = bundle_store(
        actor=None,
        manifest=bundle.manifest_bytes(),
        signature=bundle.signature(ed_key),
        images=bundle.images,
    )
    api.force_authenticate(users[role])
    for url in (BUNDLES, f"{BUNDLES}{kept.pk}/", f"{BUNDLES}{kept.pk}/predictions/"):
        assert api.get(url).status_code == code, url


def test_an_unknown_bundle_is_404(api, engineer):
    api.force_authenticate(engineer)
    assert api.get(f"{BUNDLES}999999/").status_code == 404
    assert api.get(f"{BUNDLES}999999/predictions/").status_code == 404
