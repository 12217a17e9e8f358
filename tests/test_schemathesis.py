"""Fuzzing the whole API from its OpenAPI schema with schemathesis, in-process (issue 13, item
10; decision 25).

The schema is the one ``/api/v1/schema/`` serves (generated as tests/test_api_schema.py does);
the calls go through Django's WSGI handler in this process, so they see the test database.
For every operation, a few generated requests (bounded: the suite stays fast):

- as an engineer with a token of every scope: no answer is a 5xx, every status is one the
  operation documents (401/403/404 included), its content type and body match the schema;
- without credentials: every operation that needs a login refuses (401/403; authentication is
  never ignored), and nothing answers 5xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.tokens.services import create_token
from tests.factories import HeatMeterFactory

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = get_wsgi_application()

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Generated cases only: with Hypothesis's explicit phase on, schemathesis adds its "coverage"
# cases (every boundary of every parameter), minutes for this API.
BOUNDED = settings(
    max_examples=2,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI handler closes the database connection after each request; in a test that is
    the test's own transaction (Django's test client unhooks this the same way)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def engineer_token(engineer, site):
    # A site and a meter with small ids, so generated ids sometimes reach a real one (no node:
    # its BMC would be called for real, and the fuzzing would wait on network timeouts).
    HeatMeterFactory(site=site)
    _, secret = create_token(engineer, name="schemathesis", scopes=["read", "write", "operate"])
    return secret


def needs_login(operation) -> bool:
    """False for operations the schema says anyone may call (an empty security requirement)."""
    security = operation.definition.raw.get("security", schema.raw_schema.get("security", []))
    return bool(security) and {} not in security


@schema.parametrize()
@BOUNDED
@pytest.mark.django_db
def test_engineer_gets_only_documented_answers_and_never_a_server_error(case, engineer_token):
    response = case.call(headers={"Authorization": f"Token {engineer_token}"})
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@BOUNDED
@pytest.mark.django_db
def test_without_credentials_nothing_is_served(case):
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    if needs_login(case.operation):
        # 401/403 as a rule; DRF may refuse a request it cannot serve at all (an unknown
        # `format`: 404, 406) before it looks at credentials. Never an answer.
        assert response.status_code in (401, 403, 404, 406), (
            f"{case.operation.label} answered {response.status_code} without credentials"
        )
