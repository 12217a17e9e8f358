"""Input at the edges of what numbers and dates can hold is a 400 with a reason, never a 500.

Each case once reached the database or date arithmetic and overflowed there.
"""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
HUGE = "99999999999999999999999999999"
COMPARE = {"start": "2026-01-01", "end": "2026-01-05"}

CASES = [
    ("admin", "get", "/api/v1/compare/", COMPARE | {"sites": HUGE}, "sites must be site ids"),
    ("admin", "get", "/api/v1/compare/", COMPARE | {"sites": "9" * 5000}, "sites must be"),
    ("admin", "get", "/api/v1/compare/", COMPARE | {"sites": "²"}, "sites must be site ids"),
    ("admin", "get", "/api/v1/compare/", {"start": "0001-01-01", "end": "0001-01-05"},
     "start and end must lie between 1970-01-01 and 2200-01-01"),
    ("admin", "get", "/api/v1/compare/", {"start": "9999-12-25", "end": "9999-12-31"},
     "start and end must lie between"),
    ("engineer", "post", "/api/v1/sites/{site}/power/", {"action": "off", "nodes": [int(HUGE)]},
     "nodes"),
    ("engineer", "get", "/api/v1/sites/{site}/heat/", {"start": "0001-01-01T00:00Z"},
     "start must lie between 1970-01-01 and 2200-01-01"),
    ("engineer", "get", "/api/v1/sites/{site}/heat/", {"end": "0001-01-01T00:00Z"},
     "end must lie between"),
    ("engineer", "get", "/api/v1/sites/{site}/heat/", {"end": "9999-12-31T23:59Z"},
     "end must lie between"),
    ("engineer", "get", "/api/v1/sites/{site}/heat/",
     {"start": "9999-12-31T20:00Z", "end": "9999-12-31T23:59Z", "resolution": "day"},
     "must lie between"),
    ("engineer", "get", "/api/v1/power-actions/", {"since": "0001-01-01T00:00+05:00"},
     "since: must lie between"),
    ("engineer", "get", "/api/v1/power-actions/", {"until": "9999-12-31T23:59-05:00"},
     "until: must lie between"),
]  # fmt: skip


@pytest.mark.parametrize(("role", "method", "url", "data", "reason"), CASES)
def test_input_at_the_edges_is_a_400_with_the_reason(users, site, role, method, url, data, reason):
    client = APIClient()
    client.force_authenticate(users[role])
    url = url.format(site=site.pk)
    options = {} if method == "get" else {"format": "json"}
    response = getattr(client, method)(url, data, **options)
    assert response.status_code == 400, response.content
    assert reason in str(response.json())
