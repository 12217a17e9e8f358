"""The power history in the API: what the node and site pages show, filtered, for hardware roles."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.hardware import selectors
from apps.hardware.models import PowerAction
from tests.factories import NodeFactory, UserFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 10, 11, 0, tzinfo=UTC)
URL = "/api/v1/power-actions/"


def _action(node, *, minutes, kind="on", status="succeeded", by=None):
    action = PowerAction.objects.create(node=node, kind=kind, status=status, requested_by=by)
    # requested_at is set on creation: move it to a known instant.
    PowerAction.objects.filter(pk=action.pk).update(requested_at=T0 + timedelta(minutes=minutes))
    return action


@pytest.fixture
def history(engineer, node, other_site):
    other_node = NodeFactory(site=other_site)
    colleague = UserFactory(username="colleague")
    return {
        "first": _action(node, minutes=0, by=engineer),
        "failed": _action(node, minutes=10, kind="off", status="failed", by=colleague),
        "elsewhere": _action(other_node, minutes=20, kind="cycle", by=engineer),
        "running": _action(node, minutes=30, kind="reset", status="running", by=engineer),
    }


@pytest.fixture
def api(engineer):
    client = APIClient()
    client.force_authenticate(engineer)
    return client


def _ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_the_history_comes_newest_first_with_the_detail_of_each_action(api, history, engineer):
    body = api.get(URL).json()
    assert body["count"] == 4
    assert [r["id"] for r in body["results"]] == [
        history[k].pk for k in ("running", "elsewhere", "failed", "first")
    ]
    failed = body["results"][2]
    assert failed["kind"] == "off" and failed["status"] == "failed"
    assert failed["requested_by"] == "colleague"
    assert failed["url"] == reverse("api:power-action-detail", args=[history["failed"].pk])


def test_a_nodes_history_is_what_its_page_shows(api, history, node):
    page = [a.pk for a in selectors.node_actions(node)]
    assert _ids(api.get(URL, {"node": node.pk})) == page


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "failed"}, ["failed"]),
        ({"kind": "cycle"}, ["elsewhere"]),
        ({"requested_by": "colleague"}, ["failed"]),
        ({"since": "2026-01-10T12:10:00+01:00"}, ["running", "elsewhere", "failed"]),
        ({"until": "2026-01-10T11:10:00Z"}, ["first"]),
        ({"since": "2026-01-10T11:05Z", "until": "2026-01-10T11:30Z"}, ["elsewhere", "failed"]),
        ({"status": "succeeded", "kind": "on"}, ["first"]),
        ({"requested_by": "nobody"}, []),
    ],
)  # fmt: skip
def test_filters_narrow_the_history(api, history, params, expected):
    assert _ids(api.get(URL, params)) == [history[k].pk for k in expected]


def test_filters_by_site_and_node(api, history, site, other_site, node):
    assert _ids(api.get(URL, {"site": other_site.pk})) == [history["elsewhere"].pk]
    assert len(_ids(api.get(URL, {"site": site.pk, "node": node.pk}))) == 3
    assert _ids(api.get(URL, {"site": other_site.pk, "node": node.pk})) == []


def test_an_unencoded_plus_offset_is_understood(api, history):
    response = api.get(f"{URL}?since=2026-01-10T12:25:00+01:00")
    assert _ids(response) == [history["running"].pk]


def test_the_history_is_paginated(api, history):
    page = api.get(URL, {"limit": 3}).json()
    assert page["count"] == 4 and len(page["results"]) == 3
    assert _ids(api.get(page["next"])) == [history["first"].pk]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"status": "done"}, 'status: "done" is not a valid choice.'),
        ({"kind": "explode"}, 'kind: "explode" is not a valid choice.'),
        ({"node": "n01"}, "node: A valid integer is required."),
        ({"site": "0"}, "site: Ensure this value is greater than or equal to 1."),
        ({"node": "9" * 30}, "node: Ensure this value is less than or equal to"),
        ({"since": "yesterday"}, "since: is not an ISO 8601 date-time: 'yesterday'"),
        ({"until": "2026-01-10T11:00:00"}, "until: must carry a UTC offset"),
        ({"since": "2026-01-10T12:00Z", "until": "2026-01-10T11:00Z"}, "until: must be after"),
        ({"status": "done", "node": "x"}, "node: A valid integer is required.; status:"),
    ],
)  # fmt: skip
def test_a_bad_filter_is_a_400_with_the_reason(api, history, params, reason):
    response = api.get(URL, params)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(reason)


@pytest.mark.parametrize(("role", "status"), [("partner", 403), ("planner", 403), ("admin", 200)])
def test_only_roles_that_see_hardware_list_the_history(users, history, role, status):
    client = APIClient()
    client.force_authenticate(users[role])
    assert client.get(URL).status_code == status


def test_a_partner_is_refused_before_any_filter_is_read(users, history):
    client = APIClient()
    client.force_authenticate(users["partner"])
    response = client.get(URL, {"status": "done"})
    assert response.status_code == 403
    assert "hardware" in response.json()["detail"]
