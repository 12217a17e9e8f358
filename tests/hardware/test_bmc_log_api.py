"""The BMC log API: the entries the details read stored from a lab Redfish BMC, newest first,
intrusions marked and filterable, paginated like every list, checked against the schema."""

import datetime

import pytest
from rest_framework.test import APIClient

from apps.hardware import details
from apps.hardware.drivers.redfish import transport
from apps.hardware.models import BmcFacts
from tests.factories import NodeFactory
from tests.hardware.redfish_nodes import dual_lab_node
from tests.test_api_schema import assert_documented, generated, schema  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_breaker")]

LOG = "/api/v1/nodes/{id}/bmc-log/"


@pytest.fixture
def lab(make_dual_lab):
    lab = make_dual_lab(count=1)
    yield lab
    transport.close_all()


@pytest.fixture
def logged_node(lab, site):
    """A Redfish node whose BMC logged a fan warning, an intrusion and a power event, read."""
    bmc = lab.bmc(0)
    start = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=datetime.UTC)
    for minutes, (sensor, message, severity) in enumerate(
        [
            ("Fan", "Fan 2 below lower critical", "Warning"),
            ("Physical Chassis Security", "General chassis intrusion: cover opened", "Critical"),
            ("Power Supply", "PSU 1 input restored", "OK"),
        ]
    ):
        bmc.log_event(sensor, message, severity)["created"] = start + datetime.timedelta(
            minutes=minutes
        )
    node = dual_lab_node(lab, 0, accepted=True, site=site, bmc_protocol="redfish")
    details.bmc_details_refresh(node.pk)
    return node


def get(user, node, query=""):
    api = APIClient()
    api.force_authenticate(user)
    return api.get(LOG.replace("{id}", str(node.pk)) + query)


def test_the_log_lists_the_entries_newest_first_with_utc_times(schema, logged_node, engineer):  # noqa: F811
    response = get(engineer, logged_node)
    assert response.status_code == 200
    assert_documented(schema, response, "get", LOG)
    body = response.json()
    assert body["available"] is True and body["read_at"]
    messages = [e["message"] for e in body["results"]]
    assert messages[:3] == [
        "PSU 1 input restored",
        "General chassis intrusion: cover opened",
        "Fan 2 below lower critical",
    ]
    intrusion = body["results"][1]
    assert (intrusion["intrusion"], intrusion["severity"]) == (True, "critical")
    assert intrusion["created"] == "2026-12-01T08:01:00Z"
    assert [e["intrusion"] for e in body["results"]].count(True) == 1


def test_intrusion_true_lists_only_intrusions_and_false_the_others(
    schema,  # noqa: F811
    logged_node,
    engineer,
):
    only = get(engineer, logged_node, "?intrusion=true")
    assert_documented(schema, only, "get", LOG)
    assert only.json()["count"] == 1
    assert only.json()["results"][0]["sensor_type"] == "Physical Chassis Security"
    others = get(engineer, logged_node, "?intrusion=false").json()
    assert others["count"] == get(engineer, logged_node).json()["count"] - 1
    assert not any(e["intrusion"] for e in others["results"])


def test_the_log_is_paginated_with_limit_and_offset(schema, logged_node, engineer):  # noqa: F811
    everything = get(engineer, logged_node).json()
    first = get(engineer, logged_node, "?limit=2")
    assert_documented(schema, first, "get", LOG)
    page = first.json()
    assert page["count"] == everything["count"] >= 3
    assert page["results"] == everything["results"][:2]
    assert page["next"] and "offset=2" in page["next"] and page["previous"] is None
    second = get(engineer, logged_node, "?limit=2&offset=2").json()
    assert second["results"] == everything["results"][2:4]


@pytest.mark.parametrize("query", ["?intrusion=perhaps", "?limit=0", "?offset=-1"])
def test_a_bad_query_is_a_400_that_says_why(schema, logged_node, engineer, query):  # noqa: F811
    response = get(engineer, logged_node, query)
    assert response.status_code == 400
    assert_documented(schema, response, "get", LOG)
    assert response.json()["detail"]


@pytest.mark.parametrize(("role", "expected"), [("planner", 403), ("partner", 404)])
def test_planners_and_partners_read_no_bmc_log(schema, logged_node, request, role, expected):  # noqa: F811
    response = get(request.getfixturevalue(role), logged_node)
    assert response.status_code == expected
    assert_documented(schema, response, "get", LOG)


def test_admins_read_the_log(logged_node, admin_user):
    assert get(admin_user, logged_node).json()["count"] >= 3


def test_a_bmc_without_a_log_says_so(schema, engineer, site):  # noqa: F811
    node = NodeFactory(site=site, bmc_protocol="ipmi")
    BmcFacts.objects.create(node=node, features={"bmc_log": False})
    response = get(engineer, node)
    assert_documented(schema, response, "get", LOG)
    assert response.json()["available"] is False and response.json()["results"] == []
    never = NodeFactory(site=site)
    assert get(engineer, never).json() | {"next": None} == {
        "count": 0,
        "next": None,
        "previous": None,
        "read_at": None,
        "available": None,
        "results": [],
    }
