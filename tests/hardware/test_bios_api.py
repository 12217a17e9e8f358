"""The BIOS API: GET what the details read stored, PATCH stages changes on a lab Redfish BMC
(engineers only), every answer checked against the OpenAPI schema."""

import socket

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.hardware import details
from apps.hardware.drivers.redfish import transport
from apps.hardware.models import BmcFacts
from apps.sites.models import Node
from tests.factories import NodeFactory
from tests.hardware.redfish_nodes import dual_lab_node
from tests.test_api_schema import assert_documented, generated, schema  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_breaker")]

BIOS = "/api/v1/nodes/{id}/bios/"


@pytest.fixture
def lab(make_dual_lab):
    lab = make_dual_lab(count=1)
    yield lab
    transport.close_all()


@pytest.fixture
def rf_node(lab, site):
    node = dual_lab_node(lab, 0, accepted=True, site=site, bmc_protocol="redfish")
    details.bmc_details_refresh(node.pk)
    return node


def api_as(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


def url(node):
    return BIOS.replace("{id}", str(node.pk))


def pending_on_the_bmc(lab):
    return lab.redfish.service(0).bios_pending


def test_get_lists_the_attributes_with_registry_names_and_pending_values(
    schema,  # noqa: F811
    lab,
    rf_node,
    engineer,
):
    lab.redfish.service(0).bios_pending = {"ProcHyperThreading": "Disabled"}
    details.bmc_details_refresh(rf_node.pk)
    response = api_as(engineer).get(url(rf_node))
    assert response.status_code == 200
    assert_documented(schema, response, "get", BIOS)
    body = response.json()
    assert body["available"] is True and body["protocol"] == "redfish" and body["read_at"]
    attributes = {a["name"]: a for a in body["attributes"]}
    assert attributes["ProcHyperThreading"] == {
        "name": "ProcHyperThreading",
        "display_name": "Hyper-Threading",
        "value": "Enabled",
        "pending_value": "Disabled",
        "pending": True,
        "type": "Enumeration",
        "allowed_values": ["Enabled", "Disabled"],
        "read_only": False,
        "lower_bound": None,
        "upper_bound": None,
    }
    fan = attributes["FanMinimumPercent"]
    assert (fan["value"], fan["pending"], fan["lower_bound"], fan["upper_bound"]) == (
        20,
        False,
        0,
        100,
    )
    assert attributes["SystemMemorySize"]["read_only"] is True


def test_patch_stages_the_change_and_answers_the_pending_settings(
    schema,  # noqa: F811
    lab,
    rf_node,
    engineer,
):
    body = {"attributes": {"PowerProfile": "PowerSaving", "FanMinimumPercent": 40}}
    response = api_as(engineer).patch(url(rf_node), body, format="json")
    assert response.status_code == 200, response.content
    assert_documented(schema, response, "patch", BIOS)
    attributes = {a["name"]: a for a in response.json()["attributes"]}
    assert attributes["PowerProfile"]["pending_value"] == "PowerSaving"
    assert attributes["PowerProfile"]["value"] == "Performance"  # until the next reset
    assert pending_on_the_bmc(lab) == {"PowerProfile": "PowerSaving", "FanMinimumPercent": 40}
    (event,) = AuditEvent.objects.filter(action="bmc.bios_change", target_id=str(rf_node.pk))
    assert (event.actor, event.result) == (engineer, AuditEvent.Result.OK)
    assert event.detail["changes"]["PowerProfile"] == {"from": "Performance", "to": "PowerSaving"}


@pytest.mark.parametrize(
    ("attributes", "field", "reason"),
    [
        ({"NoSuchThing": 1}, "NoSuchThing", "The BIOS has no such attribute."),
        ({"FanMinimumPercent": 101}, "FanMinimumPercent", "101 is outside 0…100."),
        ({"FanMinimumPercent": "40"}, "FanMinimumPercent", "takes a whole number."),
        ({"FanMinimumPercent": True}, "FanMinimumPercent", "takes a whole number."),
        ({"BootMode": "Bios"}, "BootMode", "'Bios' is not one of Uefi, Legacy."),
        ({"SystemMemorySize": "1 TB"}, "SystemMemorySize", "is read-only."),
        ({"BootMode": "Uefi"}, "attributes", "Nothing changes"),
    ],
)
def test_a_bad_attribute_is_a_400_that_names_it_and_nothing_is_sent(
    schema,  # noqa: F811
    lab,
    rf_node,
    engineer,
    attributes,
    field,
    reason,
):
    response = api_as(engineer).patch(url(rf_node), {"attributes": attributes}, format="json")
    assert response.status_code == 400
    assert_documented(schema, response, "patch", BIOS)
    assert reason in response.json()[field][0]
    assert pending_on_the_bmc(lab) == {}


@pytest.mark.parametrize("body", [{}, {"attributes": []}, {"attributes": {}}, ["BootMode"]])
def test_a_body_without_attributes_is_a_400(schema, lab, rf_node, engineer, body):  # noqa: F811
    response = api_as(engineer).patch(url(rf_node), body, format="json")
    assert response.status_code == 400
    assert_documented(schema, response, "patch", BIOS)
    assert "attributes" in response.json()
    assert pending_on_the_bmc(lab) == {}


def test_a_bmc_refusal_is_a_409_in_the_bmcs_own_words(schema, lab, rf_node, engineer):  # noqa: F811
    lab.redfish.service(0).bios_pending = {"BootMode": "Legacy"}
    details.bmc_details_refresh(rf_node.pk)
    response = api_as(engineer).patch(
        url(rf_node), {"attributes": {"SriovGlobalEnable": "Enabled"}}, format="json"
    )
    assert response.status_code == 409
    assert_documented(schema, response, "patch", BIOS)
    detail = response.json()["detail"]
    assert (
        "The BMC says:" in detail
        and "conflict with the value of the 'Attributes/BootMode'" in detail
    )
    assert pending_on_the_bmc(lab) == {"BootMode": "Legacy"}


def test_a_bmc_that_does_not_answer_is_a_502_and_audited_failed(
    schema,  # noqa: F811
    lab,
    rf_node,
    engineer,
):
    with socket.socket() as closed:  # a port nothing listens on: the BMC is gone
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    Node.objects.filter(pk=rf_node.pk).update(redfish_port=port)
    response = api_as(engineer).patch(
        url(rf_node), {"attributes": {"ProcTurboMode": "Disabled"}}, format="json"
    )
    assert response.status_code == 502
    assert_documented(schema, response, "patch", BIOS)
    assert "does not answer" in response.json()["detail"]
    (event,) = AuditEvent.objects.filter(action="bmc.bios_change", target_id=str(rf_node.pk))
    assert (event.result, event.detail["cause"]) == (AuditEvent.Result.FAILED, "unreachable")
    assert BmcFacts.objects.get(node=rf_node).bios["pending"] == {}  # nothing stored as staged


def test_a_node_never_read_is_a_409(schema, engineer, site):  # noqa: F811
    node = NodeFactory(site=site, bmc_protocol="redfish")
    response = api_as(engineer).patch(
        url(node), {"attributes": {"ProcTurboMode": "Disabled"}}, format="json"
    )
    assert response.status_code == 409
    assert_documented(schema, response, "patch", BIOS)
    assert "not been read yet" in response.json()["detail"]
    unread = api_as(engineer).get(url(node))
    assert unread.status_code == 200 and unread.json()["available"] is None
    assert_documented(schema, unread, "get", BIOS)


@pytest.mark.parametrize(
    ("role", "expected"), [("planner", 403), ("admin_user", 403), ("partner", 404)]
)
def test_only_engineers_patch(schema, lab, rf_node, request, role, expected):  # noqa: F811
    api = api_as(request.getfixturevalue(role))
    response = api.patch(url(rf_node), {"attributes": {"ProcTurboMode": "Disabled"}}, format="json")
    assert response.status_code == expected
    assert_documented(schema, response, "patch", BIOS)
    assert pending_on_the_bmc(lab) == {}
    assert not AuditEvent.objects.filter(action="bmc.bios_change").exists()
    # admins read the settings; planners and partners do not
    read = api.get(url(rf_node))
    assert read.status_code == {"admin_user": 200}.get(role, expected)


def test_an_ipmi_node_has_no_bios_settings(schema, engineer, site):  # noqa: F811
    node = NodeFactory(site=site, bmc_protocol="ipmi")
    BmcFacts.objects.create(node=node, features={"bios": False})
    response = api_as(engineer).get(url(node))
    assert response.status_code == 200
    assert_documented(schema, response, "get", BIOS)
    assert response.json()["available"] is False and response.json()["attributes"] == []


def test_a_huge_bad_request_is_refused_with_bounded_reasons(lab, rf_node, engineer):
    long_name = "X" * 5000
    body = {"attributes": {long_name: 1, "PowerProfile": "P" * 5000}}
    response = api_as(engineer).patch(url(rf_node), body, format="json")
    assert response.status_code == 400
    reasons = response.json()
    assert len(max(reasons, key=len)) <= 100 and len(reasons["PowerProfile"][0]) <= 300
    (event,) = AuditEvent.objects.filter(action="bmc.bios_change", target_id=str(rf_node.pk))
    assert event.result == AuditEvent.Result.REFUSED and len(str(event.detail)) < 1000
    too_many = {"attributes": {f"A{n}": 1 for n in range(65)}}
    response = api_as(engineer).patch(url(rf_node), too_many, format="json")
    assert response.status_code == 400 and "At most 64" in response.json()["attributes"][0]
    assert pending_on_the_bmc(lab) == {}
