"""Every list endpoint pages the same way, and no limit, offset or filter is ever a 500.

The list endpoints are found by walking the API's URL patterns, so a new one is covered here
without being named.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.attestation.models import Attestation
from apps.core.pagination import Pagination
from apps.hardware.models import PowerAction
from tests.api_routes import api_patterns
from tests.factories import HeatMeterFactory, NodeFactory

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999999999999"


def _list_routes():
    names = set()
    for pattern in api_patterns():
        actions = getattr(pattern.callback, "actions", None) or {}
        if actions.get("get") == "list" and "format" not in pattern.pattern.regex.groupindex:
            names.add(pattern.name)
    return sorted(names)


LIST_ROUTES = _list_routes()


def test_the_walk_finds_the_list_endpoints():
    # A guard on the walk itself: were it to find nothing, every test below would pass vacuously.
    assert {"site-list", "node-list", "meter-list", "power-action-list"} <= set(LIST_ROUTES)


@pytest.fixture
def api(engineer, site, other_site, node):
    # Two of everything each list shows to an engineer.
    other = NodeFactory(site=site)
    HeatMeterFactory.create_batch(2, site=site)
    for each in (node, other):
        PowerAction.objects.create(node=each, kind="on", status=PowerAction.Status.SUCCEEDED)
    client = APIClient()
    client.force_authenticate(engineer)
    return client


def _get(api, name, **params):
    return api.get(reverse(f"api:{name}"), params)


@pytest.mark.parametrize("name", LIST_ROUTES)
def test_every_list_endpoint_uses_the_one_pagination(name):
    pattern = next(p for p in api_patterns() if p.name == name)
    assert pattern.callback.cls.pagination_class is Pagination


@pytest.mark.parametrize("name", LIST_ROUTES)
def test_a_huge_limit_is_capped_not_a_500(api, name, monkeypatch):
    monkeypatch.setattr(Pagination, "max_limit", 1)
    response = _get(api, name, limit=HUGE)
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["results"]) == 1 and body["count"] >= 2
    assert "limit=1" in body["next"]  # the next page says the limit actually used


@pytest.mark.parametrize("name", LIST_ROUTES)
def test_an_offset_past_the_end_is_an_empty_page_not_a_500(api, name):
    response = _get(api, name, offset=HUGE)
    assert response.status_code == 200, response.content
    assert response.json()["results"] == [] and response.json()["count"] >= 2


@pytest.mark.parametrize("name", LIST_ROUTES)
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("limit", "-1"),
        ("limit", "0"),
        ("limit", "ten"),
        ("limit", "1.5"),
        ("limit", "+5"),
        ("limit", "1e3"),
        ("limit", "٥"),  # an Arabic-Indic five: int() would take it
        ("limit", "9" * 5000),  # more digits than int() converts
        ("offset", "-1"),
        ("offset", "x"),
        ("offset", "9" * 5000),
    ],
)
def test_a_limit_or_offset_that_is_not_a_count_is_a_400_naming_it(api, name, param, value):
    response = _get(api, name, **{param: value})
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith(f"{param} must be")


@pytest.mark.parametrize("name", LIST_ROUTES)
def test_pages_walk_through_every_result_once(api, name):
    first = _get(api, name, limit=1).json()
    second = api.get(first["next"]).json()
    assert first["previous"] is None and second["previous"]
    ids = [first["results"][0]["id"], second["results"][0]["id"]]
    assert len(set(ids)) == 2


@pytest.mark.parametrize("name", LIST_ROUTES)
def test_a_blank_limit_is_the_default(api, name):
    response = _get(api, name, limit="", offset="")
    assert response.status_code == 200 and len(response.json()["results"]) >= 2


@pytest.mark.parametrize(
    ("name", "params", "reason"),
    [
        ("site-list", {"partner": "abc"}, "partner: A valid integer is required."),
        ("site-list", {"partner": HUGE}, "partner: Ensure this value is less than or equal"),
        ("site-list", {"status": "open"}, 'status: "open" is not a valid choice.'),
        ("node-list", {"site": "lyon"}, "site: A valid integer is required."),
        ("node-list", {"site": "-3"}, "site: Ensure this value is greater than or equal to 1."),
        ("node-list", {"power_state": "maybe"}, 'power_state: "maybe" is not a valid choice.'),
        ("meter-list", {"site": HUGE}, "site: Ensure this value is less than or equal"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it_not_an_ignored_filter(api, name, params, reason):
    response = _get(api, name, **params)
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith(reason)


def test_filters_still_filter(api, site, other_site):
    NodeFactory(site=other_site, power_state="on")
    assert _get(api, "node-list", site=site.pk).json()["count"] == 2
    assert _get(api, "node-list", power_state="on").json()["count"] == 1
    assert _get(api, "site-list", partner=other_site.partner_id).json()["count"] == 1
    assert _get(api, "meter-list", site=other_site.pk).json()["count"] == 0


@pytest.mark.parametrize("path", [f"/api/v1/sites/{HUGE}/", f"/api/v1/power-actions/{HUGE}/"])
def test_a_huge_id_in_the_path_is_a_404(api, path):
    assert api.get(path).status_code == 404


def test_the_attestation_historys_limit_follows_the_same_rules(api, node):
    for minutes in (1, 2):
        Attestation.objects.create(
            node=node, at=timezone.now() - timedelta(minutes=minutes), verdict="trusted"
        )
    url = f"/api/v1/nodes/{node.pk}/attestation/"
    assert len(api.get(url, {"limit": HUGE}).json()["history"]) == 2
    assert len(api.get(url, {"limit": "1"}).json()["history"]) == 1
    for bad in ("-1", "0", "x"):
        response = api.get(url, {"limit": bad})
        assert response.status_code == 400 and response.json()["detail"].startswith("limit must")
