"""/healthz, /readyz (database, cache, broker) and the Prometheus metrics of web and workers."""

import pytest
from celery import shared_task
from django.urls import reverse
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db


def samples(body: bytes) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(body: bytes, name: str, **labels) -> float | None:
    return samples(body).get((name, tuple(sorted(labels.items()))))


def test_healthz_answers_without_login(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_database_cache_and_broker(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # check the broker for real (Redis)
    response = client.get(reverse("readyz"))
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}


def test_readyz_names_an_unreachable_broker_without_its_url(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://:s3cret-pw@127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("unavailable (")
    assert "s3cret" not in response.content.decode()


def test_metrics_count_requests_by_route_pattern(client, partner, site):
    client.force_login(partner)
    before = value(client.get(reverse("metrics")).content, "heatsite_http_requests_total",
                   method="GET", route="sites/<int:site_id>/", status="200") or 0  # fmt: skip
    assert client.get(reverse("site-detail", args=[site.pk])).status_code == 200
    body = client.get(reverse("metrics")).content
    after = value(body, "heatsite_http_requests_total",
                  method="GET", route="sites/<int:site_id>/", status="200")  # fmt: skip
    assert after == before + 1
    assert value(body, "heatsite_http_request_seconds_count",
                 method="GET", route="sites/<int:site_id>/") >= 1  # fmt: skip


def test_metrics_report_queue_depths_from_the_broker(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    body = client.get(reverse("metrics")).content
    assert value(body, "heatsite_broker_up") == 1.0


def test_metrics_say_when_the_broker_is_down_and_still_answer(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get(reverse("metrics"))
    assert response.status_code == 200
    assert value(response.content, "heatsite_broker_up") == 0.0


def test_metrics_are_refused_outside_the_monitoring_network(client):
    response = client.get(reverse("metrics"), REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert b"METRICS_ALLOWED_NETS" in response.content


@shared_task(name="tests.ops.sample_task")
def sample_task(fail: bool) -> str:
    if fail:
        raise ValueError("asked to fail")
    return "done"


def test_task_run_times_are_recorded_by_state(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True

    def count(state):
        labels = {"task": "tests.ops.sample_task", "state": state}
        return REGISTRY.get_sample_value("heatsite_task_seconds_count", labels) or 0.0

    before = count("SUCCESS"), count("FAILURE")
    sample_task.apply(args=[False])
    sample_task.apply(args=[True])
    assert (count("SUCCESS"), count("FAILURE")) == (before[0] + 1, before[1] + 1)


def test_bmc_errors_are_counted_by_cause():
    from apps.hardware.drivers.base import BmcEndpoint, BmcError
    from apps.hardware.sweep import CircuitBreaker, sweep

    def refusing(endpoint, timeout):
        raise BmcError("bad_credentials")

    def count():
        labels = {"cause": "bad_credentials"}
        return REGISTRY.get_sample_value("heatsite_bmc_errors_total", labels) or 0.0

    before = count()
    endpoints = [BmcEndpoint(host="127.0.0.1", port=p) for p in (1, 2)]
    results = sweep(endpoints, breaker=CircuitBreaker(), driver_factory=refusing)
    assert [r.cause for r in results] == ["bad_credentials", "bad_credentials"]
    assert count() == before + 2


def test_readings_stored_are_counted(site):
    from datetime import UTC, datetime, timedelta

    from apps.heat.ingest import ingest_readings
    from apps.sites.models import HeatMeter
    from tests.heat.test_views import reading

    meter = HeatMeter.objects.create(site=site, serial="HM-m", host="127.0.0.1")
    before = REGISTRY.get_sample_value("heatsite_readings_ingested_total") or 0.0
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [reading(t0 + timedelta(minutes=k), 100 + k) for k in range(3)]
    ingest_readings({meter.id: [*rows, rows[-1]]})  # the repeated one is a duplicate
    assert REGISTRY.get_sample_value("heatsite_readings_ingested_total") == before + 3
