"""The OpenAPI schema describes the API as it is: every URL and method, bodies, answers, errors.

An operator generates a client from ``/api/v1/schema/``: an endpoint missing from it, a body or
an answer left undescribed, or a generator warning is a bug these tests catch. The last tests
check real answers against what the schema says of them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import jsonschema
import pytest
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from apps.hardware.models import PowerAction, PowerBatch
from apps.heat.models import Reading
from tests.api_routes import api_patterns
from tests.factories import HeatMeterFactory

# Routes that serve the documentation itself, not the API.
NOT_DOCUMENTED = {"api-schema", "api-docs", "api-root"}
# POSTs that take no body, on purpose: "attest now" needs nothing but the node in the path.
NO_BODY = {
    ("post", "/api/v1/nodes/{id}/attestation/"),
    ("post", "/api/v1/nodes/{id}/refresh/"),  # "read the BMC again" needs nothing either
    ("post", "/api/v1/nodes/{id}/bmc-password/rotate/"),  # nor "rotate its password"
    ("post", "/api/v1/firmware/bundles/{id}/desired/"),  # nor "make this bundle desired"
    ("post", "/api/v1/gateways/{id}/revoke/"),  # nor "revoke this gateway"
}
WRITE_METHODS = {"post", "put", "patch"}


@pytest.fixture(scope="module")
def generated():
    """The schema, and every warning and error the generator emitted while building it."""
    messages: list[tuple[str, str]] = []
    with mock.patch.object(
        GENERATOR_STATS, "emit", lambda msg, severity: messages.append((severity, msg))
    ):
        schema = SchemaGenerator().get_schema(request=None, public=True)
    return schema, messages


@pytest.fixture(scope="module")
def schema(generated):
    return generated[0]


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


# -- the generator -------------------------------------------------------------------------


def test_the_generator_emits_no_warning_and_no_error(generated):
    _, messages = generated
    assert messages == []


def test_the_schema_is_valid_openapi(schema):
    validate_schema(schema)


# -- every URL, every method ---------------------------------------------------------------


def _methods(callback) -> set[str]:
    # HEAD and OPTIONS come with every GET and every view: OpenAPI leaves them implicit.
    view = callback.cls
    methods = set(getattr(callback, "actions", None) or ())
    methods = methods or {m for m in view.http_method_names if hasattr(view, m)}
    return methods - {"options", "head"}


def _api_urls():
    """(name, a concrete URL, its methods) of every route under /api/v1/ (format suffixes
    aside: they are the same routes)."""
    routes = {}
    for pattern in api_patterns():
        groups = pattern.pattern.regex.groupindex
        if "format" in groups or pattern.name in NOT_DOCUMENTED:
            continue
        url = reverse(f"api:{pattern.name}", kwargs=dict.fromkeys(groups, "1"))
        routes.setdefault((pattern.name, url), set()).update(_methods(pattern.callback))
    return sorted((name, url, methods) for (name, url), methods in routes.items())


def _template(schema, url):
    for path in schema["paths"]:
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", path), url):
            return path
    return None


def test_the_walk_finds_the_api(schema):
    # A guard on the walk: an empty walk would make the test below pass vacuously.
    assert len(_api_urls()) >= 15


def test_every_api_url_and_method_is_in_the_schema(schema):
    missing = []
    for name, url, methods in _api_urls():
        path = _template(schema, url)
        documented = set(schema["paths"].get(path, {})) & {"get", "post", "put", "patch", "delete"}
        if path is None or methods - documented:
            missing.append((name, url, sorted(methods - documented)))
    assert missing == [], f"API routes missing from the schema: {missing}"


def test_nothing_but_the_documentation_routes_is_left_out():
    names = {p.name for p in api_patterns()}
    assert names >= NOT_DOCUMENTED  # the exclusions name real routes, not stale ones


# -- bodies and answers ----------------------------------------------------------------------


def test_every_success_answer_has_a_described_body(schema):
    bare = [
        (method.upper(), path, code)
        for path, method, operation in _operations(schema)
        for code, response in operation["responses"].items()
        if code.startswith("2") and code != "204" and not response.get("content")
    ]
    assert bare == [], f"documented as 'No response body': {bare}"


def test_every_success_answer_names_its_fields(schema):
    # A free-form object is as useless to a client generator as no body at all.
    vague = []
    for path, method, operation in _operations(schema):
        for code, response in operation["responses"].items():
            for media, content in response.get("content", {}).items():
                body = content["schema"]
                if (
                    code.startswith("2")
                    and media == "application/json"
                    and body == {"type": "object"}
                ):
                    vague.append((method.upper(), path, code))
    assert vague == []


def test_every_write_has_a_request_body(schema):
    missing = [
        (method, path)
        for path, method, operation in _operations(schema)
        if method in WRITE_METHODS and "requestBody" not in operation
    ]
    assert sorted(missing) == sorted(NO_BODY)


def test_every_operation_documents_its_errors(schema):
    undocumented = []
    for path, method, operation in _operations(schema):
        errors = {c: r for c, r in operation["responses"].items() if c.startswith("4")}
        needs_login = operation.get("security") != [] and path != "/api/v1/auth/token/"
        if not errors or (needs_login and "401" not in errors):
            undocumented.append((method.upper(), path, sorted(errors)))
        if "{" in path and "404" not in errors:
            undocumented.append((method.upper(), path, "no 404"))
        for code, response in errors.items():
            if "application/json" not in response.get("content", {}):
                undocumented.append((method.upper(), path, code))
    assert undocumented == []


def test_every_parameter_of_the_function_views_is_documented(schema):
    names = {
        ("get", "/api/v1/sites/{id}/heat/"): {"start", "end", "resolution"},
        ("get", "/api/v1/sites/{id}/heat/statement/"): {"month", "format"},
        ("get", "/api/v1/compare/"): {"sites", "start", "end", "sort", "format"},
        ("get", "/api/v1/power-actions/"): {
            "node", "site", "status", "kind", "requested_by", "since", "until", "limit", "offset",
        },
    }  # fmt: skip
    for (method, path), expected in names.items():
        documented = {p["name"] for p in schema["paths"][path][method].get("parameters", [])}
        assert expected <= documented, (path, expected - documented)


def test_the_power_endpoint_is_documented_as_a_202_with_the_action(schema):
    operation = schema["paths"]["/api/v1/nodes/{id}/power/"]["post"]
    accepted = operation["responses"]["202"]
    assert accepted["content"]["application/json"]["schema"]["$ref"].endswith("/PowerAction")
    assert "Location" in accepted["headers"]
    assert "200" not in operation["responses"]
    assert {"400", "401", "403", "404", "409"} <= set(operation["responses"])


# -- real answers against the schema ---------------------------------------------------------


def _json_schema(node, components):
    """An OpenAPI 3.0 schema as JSON Schema: references inlined, ``nullable`` as a null type,
    and objects closed, so an answer with a field the schema does not name fails too."""
    if isinstance(node, list):
        return [_json_schema(n, components) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    out = {k: _json_schema(v, components) for k, v in node.items() if k != "nullable"}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def assert_documented(schema, response, method, path):
    """The answer's status is documented for the operation, and its body fits the schema."""
    operation = schema["paths"][path][method]
    code = str(response.status_code)
    assert code in operation["responses"], (method, path, code, response.content[:300])
    body = operation["responses"][code]["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), _json_schema(body, schema["components"]["schemas"]))


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def meter(site):
    meter = HeatMeterFactory(site=site)
    now = timezone.now().replace(microsecond=0)
    for i in range(3):
        Reading.objects.create(
            meter=meter,
            ts=now - timedelta(minutes=10 * (3 - i)),
            supply_c=70.0 + i,
            return_c=55.0,
            flow_m3h=0.25,
            power_kw=4.3,
            energy_register_kwh=100.0 + i,
            energy_kwh=100.0 + i,
        )
    return meter


@pytest.mark.django_db
def test_the_power_answers_are_what_the_schema_says(schema, api, engineer, planner, node, site):
    api.force_authenticate(engineer)
    # Not a transactional test: the queued actions never reach a worker, so they stay pending.
    accepted = api.post(f"/api/v1/nodes/{node.pk}/power/", {"action": "on"}, format="json")
    conflict = api.post(f"/api/v1/nodes/{node.pk}/power/", {"action": "off"}, format="json")
    batch = api.post(f"/api/v1/sites/{site.pk}/power/", {"action": "off"}, format="json")
    assert accepted.status_code == 202 and conflict.status_code == 409
    assert_documented(schema, accepted, "post", "/api/v1/nodes/{id}/power/")
    assert_documented(schema, conflict, "post", "/api/v1/nodes/{id}/power/")
    assert_documented(schema, batch, "post", "/api/v1/sites/{id}/power/")
    bad = api.post(f"/api/v1/nodes/{node.pk}/power/", {"action": "explode"}, format="json")
    assert_documented(schema, bad, "post", "/api/v1/nodes/{id}/power/")
    for url, path in [
        (accepted.json()["url"], "/api/v1/power-actions/{id}/"),
        (batch.json()["url"], "/api/v1/power-batches/{id}/"),
        ("/api/v1/power-actions/", "/api/v1/power-actions/"),
        ("/api/v1/power-actions/?status=done", "/api/v1/power-actions/"),
    ]:
        assert_documented(schema, api.get(url), "get", path)
    api.force_authenticate(planner)
    refused = api.post(f"/api/v1/nodes/{node.pk}/power/", {"action": "on"}, format="json")
    assert_documented(schema, refused, "post", "/api/v1/nodes/{id}/power/")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["partner", "engineer"])
def test_the_inventory_answers_are_what_the_schema_says(schema, api, users, site, node, role):
    HeatMeterFactory(site=site)
    api.force_authenticate(users[role])
    assert_documented(schema, api.get("/api/v1/sites/"), "get", "/api/v1/sites/")
    assert_documented(schema, api.get(f"/api/v1/sites/{site.pk}/"), "get", "/api/v1/sites/{id}/")
    assert_documented(schema, api.get("/api/v1/nodes/"), "get", "/api/v1/nodes/")
    assert_documented(schema, api.get("/api/v1/meters/?limit=x"), "get", "/api/v1/meters/")


@pytest.mark.django_db
def test_a_partners_site_is_the_whitelist_and_nothing_more(schema, api, partner, site):
    api.force_authenticate(partner)
    body = api.get(f"/api/v1/sites/{site.pk}/").json()
    partner_site = _json_schema(
        schema["components"]["schemas"]["PartnerSite"], schema["components"]["schemas"]
    )
    jsonschema.validate(body, partner_site)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body | {"address": "1 rue du Four"}, partner_site)


@pytest.mark.django_db
def test_the_heat_answers_are_what_the_schema_says(schema, api, engineer, partner, site, meter):
    month = timezone.now().astimezone(site.tzinfo).strftime("%Y-%m")
    for user in (engineer, partner):
        api.force_authenticate(user)
        for params in ({}, {"resolution": "hour"}, {"resolution": "minute"}):
            response = api.get(f"/api/v1/sites/{site.pk}/heat/", params)
            assert_documented(schema, response, "get", "/api/v1/sites/{id}/heat/")
        for params in ({"month": month}, {"month": "2026-13"}):
            response = api.get(f"/api/v1/sites/{site.pk}/heat/statement/", params)
            assert_documented(schema, response, "get", "/api/v1/sites/{id}/heat/statement/")


@pytest.mark.django_db
def test_the_comparison_answers_are_what_the_schema_says(schema, api, planner, site, meter):
    api.force_authenticate(planner)
    today = timezone.localdate()
    period = {"start": (today - timedelta(days=7)).isoformat(), "end": today.isoformat()}
    assert_documented(schema, api.get("/api/v1/compare/", period), "get", "/api/v1/compare/")
    assert_documented(schema, api.get("/api/v1/compare/"), "get", "/api/v1/compare/")


@pytest.mark.django_db
def test_the_attestation_answers_are_what_the_schema_says(schema, api, engineer, node):
    api.force_authenticate(engineer)
    path = "/api/v1/nodes/{id}/attestation/"
    assert_documented(schema, api.get(f"/api/v1/nodes/{node.pk}/attestation/"), "get", path)
    assert_documented(schema, api.post(f"/api/v1/nodes/{node.pk}/attestation/"), "post", path)
    prediction = api.get(f"/api/v1/nodes/{node.pk}/attestation/prediction/")
    assert_documented(schema, prediction, "get", "/api/v1/nodes/{id}/attestation/prediction/")


@pytest.mark.django_db
def test_the_token_answers_are_what_the_schema_says(schema, api, engineer):
    from tests.factories import PASSWORD

    path = "/api/v1/auth/token/"
    good = api.post(path, {"username": "engineer", "password": PASSWORD})
    bad = api.post(path, {"username": "engineer", "password": "nope"})
    assert_documented(schema, good, "post", path)
    assert_documented(schema, bad, "post", path)
    assert_documented(schema, APIClient().get("/api/v1/sites/"), "get", "/api/v1/sites/")


@pytest.mark.django_db
def test_a_power_batch_of_finished_actions_is_what_the_schema_says(schema, api, engineer, node):
    batch = PowerBatch.objects.create(site=node.site, action="off")
    PowerAction.objects.create(node=node, kind="off", batch=batch, status="failed", error="x")
    api.force_authenticate(engineer)
    response = api.get(f"/api/v1/power-batches/{batch.pk}/")
    assert response.json()["failed"] == 1
    assert_documented(schema, response, "get", "/api/v1/power-batches/{id}/")
