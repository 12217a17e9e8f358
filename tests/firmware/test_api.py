"""The firmware API: upload (checked, digest computed), request an update (202), follow it;
each role as the access rules say; answers as the schema documents them."""

import hashlib

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.firmware.models import FirmwareImage, FirmwareUpdate
from apps.lab.redfish.updates import SKU, build_image
from tests.factories import NodeFactory
from tests.test_api_schema import assert_documented

UPLOAD = "/api/v1/firmware/images/"


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def redfish_node(site):
    return NodeFactory(site=site, bmc_protocol="redfish")


def _upload(api, data: bytes, name="bios.hsfw"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return api.post(UPLOAD, {"file": SimpleUploadedFile(name, data)}, format="multipart")


@pytest.fixture
def image(api, engineer):
    api.force_authenticate(engineer)
    return FirmwareImage.objects.get(pk=_upload(api, build_image("BIOS", "3.0.7")).json()["id"])


def test_an_upload_is_checked_kept_privately_and_audited(api, engineer, settings, schema):
    data = build_image("BIOS", "3.0.7")
    api.force_authenticate(engineer)
    created = _upload(api, data)
    assert created.status_code == 201
    assert_documented(schema, created, "post", "/api/v1/firmware/images/")
    body = created.json()
    assert (body["component"], body["version"], body["sku"], body["size"]) == (
        "BIOS",
        "3.0.7",
        SKU,
        len(data),
    )
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    kept = FirmwareImage.objects.get(pk=body["id"])
    assert kept.file.path.startswith(str(settings.FIRMWARE_IMAGE_ROOT))
    assert kept.file.read() == data
    kept.file.close()
    again = _upload(api, data, name="copy.hsfw")
    assert (again.status_code, again.json()["id"]) == (200, body["id"])
    events = AuditEvent.objects.filter(action="firmware.image_upload")
    assert [(e.actor, e.detail["sha256"]) for e in events] == [(engineer, body["sha256"])]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"MZ\x90\x00 not firmware", "Not a firmware image"),
        (b"", "empty"),
        (build_image("BIOS", "3.0.7")[:-3], "SHA-256"),  # truncated in transfer
        (build_image("GPU", "1.0"), "Unknown component 'GPU'"),
        (b"HSFW\x01\x00\x00\x00\x05{oops", "not readable JSON"),
    ],
)
def test_a_bad_image_is_refused_with_the_reason_and_nothing_kept(
    api, engineer, data, words, schema
):
    api.force_authenticate(engineer)
    response = _upload(api, data)
    assert response.status_code == 400
    assert_documented(schema, response, "post", "/api/v1/firmware/images/")
    assert words in " ".join(response.json()["file"])
    assert not FirmwareImage.objects.exists()


def test_an_image_over_the_size_limit_is_refused(api, engineer, settings):
    settings.FIRMWARE_IMAGE_MAX_BYTES = 100
    api.force_authenticate(engineer)
    response = _upload(api, build_image("NIC", "22.31.6", payload=b"x" * 200))
    assert response.status_code == 400 and "at most 100" in response.json()["file"][0]


@pytest.mark.parametrize(("role", "code"), [("partner", 403), ("planner", 403), ("admin", 201)])
def test_who_may_upload(api, users, role, code):
    api.force_authenticate(users[role])
    assert _upload(api, build_image("CPLD", "1.2")).status_code == code


def test_an_update_request_is_a_202_with_the_update_and_audited(
    api, engineer, image, redfish_node, schema
):
    url = f"/api/v1/nodes/{redfish_node.pk}/firmware/update/"
    response = api.post(url, {"image": image.pk, "method": "simple"}, format="json")
    assert response.status_code == 202
    assert_documented(schema, response, "post", "/api/v1/nodes/{id}/firmware/update/")
    body = response.json()
    assert response["Location"] == body["url"] == f"/api/v1/firmware/updates/{body['id']}/"
    assert (body["state"], body["apply_time"], body["target_version"]) == (
        "pending",
        "OnReset",
        "3.0.7",
    )
    update = FirmwareUpdate.objects.get(pk=body["id"])
    assert update.image_base_url == "http://testserver/"  # where the BMC may reach us
    request_event = AuditEvent.objects.get(action="firmware.update")
    assert (request_event.actor, request_event.result) == (engineer, "pending")
    assert request_event.detail["update_id"] == update.pk

    second = api.post(url, {"image": image.pk, "method": "push"}, format="json")
    assert second.status_code == 409 and "already has a firmware update" in second.json()["detail"]
    assert_documented(schema, second, "post", "/api/v1/nodes/{id}/firmware/update/")
    refused = AuditEvent.objects.get(action="firmware.update", result="refused")
    assert "already has" in refused.detail["reason"]
    assert FirmwareUpdate.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"method": "push"}, "image"),
        ({"image": 999999, "method": "push"}, "image"),
        ({"image": "IMAGE", "method": "ftp"}, "method"),
        ({"image": "IMAGE", "method": "push", "apply_time": "Later"}, "apply_time"),
    ],
)
def test_a_bad_update_request_is_a_400_naming_the_field(
    api, image, redfish_node, body, field, schema
):
    body = {k: image.pk if v == "IMAGE" else v for k, v in body.items()}
    url = f"/api/v1/nodes/{redfish_node.pk}/firmware/update/"
    response = api.post(url, body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert_documented(schema, response, "post", "/api/v1/nodes/{id}/firmware/update/")
    assert not FirmwareUpdate.objects.exists()


def test_an_ipmi_only_node_is_refused_with_the_reason(api, image, node):
    response = api.post(
        f"/api/v1/nodes/{node.pk}/firmware/update/", {"image": image.pk, "method": "push"}
    )
    assert response.status_code == 400 and "Redfish" in response.json()["detail"]
    assert AuditEvent.objects.filter(action="firmware.update", result="refused").exists()


@pytest.mark.parametrize(
    ("role", "apply_time", "code"),
    [
        ("partner", "OnReset", 404),
        ("planner", "OnReset", 403),
        ("admin", "OnReset", 403),  # the reset is a power action: engineers only
        ("admin", "Immediate", 202),
    ],
)
def test_who_may_request_an_update(api, users, image, redfish_node, role, apply_time, code):
    api.force_authenticate(users[role])
    response = api.post(
        f"/api/v1/nodes/{redfish_node.pk}/firmware/update/",
        {"image": image.pk, "method": "push", "apply_time": apply_time},
        format="json",
    )
    assert response.status_code == code


def _update(node, image, state="succeeded"):
    return FirmwareUpdate.objects.create(
        node=node, image=image, method="push", target_version=image.version, state=state
    )


def test_updates_are_listed_per_node_newest_first_and_paginated(
    api, image, redfish_node, site, schema
):
    other = NodeFactory(site=site, bmc_protocol="redfish")
    mine = [_update(redfish_node, image, "failed"), _update(redfish_node, image, "succeeded")]
    _update(other, image)
    listed = api.get("/api/v1/firmware/updates/", {"node": redfish_node.pk})
    assert_documented(schema, listed, "get", "/api/v1/firmware/updates/")
    assert [u["id"] for u in listed.json()["results"]] == [mine[1].pk, mine[0].pk]
    page = api.get("/api/v1/firmware/updates/", {"limit": 1, "offset": 1})
    assert page.json()["count"] == 3 and len(page.json()["results"]) == 1
    failed = api.get("/api/v1/firmware/updates/", {"state": "failed"})
    assert [u["id"] for u in failed.json()["results"]] == [mine[0].pk]
    bad = api.get("/api/v1/firmware/updates/", {"node": "seven"})
    assert bad.status_code == 400 and "node" in bad.json()["detail"]
    assert_documented(schema, bad, "get", "/api/v1/firmware/updates/")
    detail = api.get(listed.json()["results"][0]["url"])
    assert_documented(schema, detail, "get", "/api/v1/firmware/updates/{id}/")
    assert detail.json()["image"]["version"] == "3.0.7"


@pytest.mark.parametrize(("role", "code"), [("partner", 404), ("planner", 403), ("admin", 200)])
def test_who_may_read_an_update(api, users, image, redfish_node, role, code):
    update = _update(redfish_node, image)
    api.force_authenticate(users[role])
    assert api.get(f"/api/v1/firmware/updates/{update.pk}/").status_code == code
    listed = api.get("/api/v1/firmware/updates/")
    assert listed.status_code == (200 if role == "admin" else 403)
