"""The BMC endpoints answer what the OpenAPI schema says (bodies checked, closed objects)."""

from unittest import mock

import pytest
from rest_framework.test import APIClient

from apps.hardware.models import BmcFacts
from apps.sites.models import Node
from tests.factories import NodeFactory
from tests.test_api_schema import assert_documented, generated, schema  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

ACCEPT = "/api/v1/nodes/{id}/bmc-certificate/accept/"


def test_the_certificate_accept_answers_are_what_the_schema_says(schema, engineer, planner, site):  # noqa: F811
    node = NodeFactory(site=site, bmc_protocol="redfish")
    api = APIClient()
    api.force_authenticate(engineer)
    url = ACCEPT.replace("{id}", str(node.pk))
    assert_documented(schema, api.post(url, {}, format="json"), "post", ACCEPT)  # 409: none seen
    Node.objects.filter(pk=node.pk).update(bmc_cert_fingerprint="ab" * 32)
    bad = api.post(url, {"fingerprint": "not hex"}, format="json")
    assert bad.status_code == 400
    assert_documented(schema, bad, "post", ACCEPT)
    other = api.post(url, {"fingerprint": "cd" * 32}, format="json")
    assert other.status_code == 409
    assert_documented(schema, other, "post", ACCEPT)
    accepted = api.post(url, {"fingerprint": "ab" * 32}, format="json")
    assert accepted.status_code == 200
    assert_documented(schema, accepted, "post", ACCEPT)
    api.force_authenticate(planner)
    refused = api.post(url, {}, format="json")
    assert refused.status_code == 403
    assert_documented(schema, refused, "post", ACCEPT)


def test_the_refresh_and_firmware_answers_are_what_the_schema_says(schema, engineer, site):  # noqa: F811
    node = NodeFactory(site=site)
    BmcFacts.objects.create(
        node=node,
        features={"firmware": True},
        firmware=[
            {"component": "BMC", "version": "2.14", "id": "BMC", "updateable": True,
             "related": [], "read_at": "2026-12-03T20:00:00+00:00"},
            {"component": "BIOS", "version": "1.0"},  # read before read_at was kept
        ],
    )  # fmt: skip
    api = APIClient()
    api.force_authenticate(engineer)
    with mock.patch("apps.hardware.tasks.bmc_details_refresh_task.delay"):
        queued = api.post(f"/api/v1/nodes/{node.pk}/refresh/")
    assert queued.status_code == 202
    assert_documented(schema, queued, "post", "/api/v1/nodes/{id}/refresh/")
    firmware = api.get(f"/api/v1/nodes/{node.pk}/firmware/")
    assert_documented(schema, firmware, "get", "/api/v1/nodes/{id}/firmware/")
    components = firmware.json()["components"]
    assert components[1] == {
        "id": "BIOS", "name": "BIOS", "version": "1.0", "updateable": None, "read_at": None,
    }  # fmt: skip


def test_a_node_in_the_api_says_whether_its_bmc_certificate_is_accepted(schema, engineer, site):  # noqa: F811
    node = NodeFactory(site=site, bmc_protocol="redfish")
    Node.objects.filter(pk=node.pk).update(
        bmc_tls_fingerprint="ab" * 32, bmc_cert_fingerprint="cd" * 32
    )
    api = APIClient()
    api.force_authenticate(engineer)
    response = api.get(f"/api/v1/nodes/{node.pk}/")
    assert_documented(schema, response, "get", "/api/v1/nodes/{id}/")
    body = response.json()
    assert (body["bmc_certificate_state"], body["bmc_tls_fingerprint"]) == ("changed", "ab" * 32)
    # read-only: a PATCH cannot pin a certificate behind the audited accept
    api.patch(f"/api/v1/nodes/{node.pk}/", {"bmc_tls_fingerprint": "cd" * 32}, format="json")
    node.refresh_from_db()
    assert node.bmc_tls_fingerprint == "ab" * 32
