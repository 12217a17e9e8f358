"""Prometheus metrics of the web processes, the Celery workers and the site gateways.

Each process counts into prometheus_client's registry. With ``PROMETHEUS_MULTIPROC_DIR`` in the
environment (set by the systemd units: several uvicorn workers, Celery's prefork children) every
process writes its samples to that directory and a scrape aggregates them all; without it (the
demo's single web process) a scrape reads the process's own registry.

Names follow Prometheus conventions: ``heatsite_`` prefix, base units (seconds), ``_total``
counters. Labels are bounded: URL *patterns*, task names, error causes, verdicts, gateway names.
"""

from __future__ import annotations

import os

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

# Web pages and API calls: 5 ms to 10 s.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Tasks and sweeps: 10 ms to 10 min.
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

HTTP_REQUESTS = Counter(
    "heatsite_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "heatsite_http_request_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=HTTP_BUCKETS,
)
TASK_SECONDS = Histogram(
    "heatsite_task_seconds", "Celery task run time", ["task", "state"], buckets=TASK_BUCKETS
)
TASK_WAIT_SECONDS = Histogram(
    "heatsite_task_wait_seconds",
    "Time a Celery task waited in its queue (publish to start)",
    ["task"],
    buckets=TASK_BUCKETS,
)
SWEEP_SECONDS = Histogram(
    "heatsite_sweep_seconds",
    "Duration of a fleet sweep (BMC polls, meter polls, attestation)",
    ["sweep"],
    buckets=TASK_BUCKETS,
)
BMC_ERRORS = Counter("heatsite_bmc_errors_total", "BMC calls that failed, by cause", ["cause"])
READINGS_INGESTED = Counter("heatsite_readings_ingested_total", "Heat-meter readings stored")
ATTESTATION_VERDICTS = Counter(
    "heatsite_attestation_verdicts_total", "Attestation verdicts written", ["verdict"]
)
GATEWAY_HEARTBEATS = Counter(
    "heatsite_gateway_heartbeats_total", "Heartbeats received from site gateways", ["gateway"]
)
# Counted by each gateway: readings put in its spool, acknowledged by the central side (they
# left the spool), dropped (the spool was full or they were too old); counted centrally:
# received (in the gateways' uploaded batches, stored once however often they come).
GATEWAY_SPOOL = Counter(
    "heatsite_gateway_spool_readings_total",
    "Meter readings through a gateway's spool, by event (spooled, uploaded, dropped, received)",
    ["gateway", "event"],
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def scrape_registry() -> CollectorRegistry:
    """What a scrape reads: every process's samples in multiprocess mode, else this process's."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def exposition(extra=()) -> bytes:
    """The text exposition format of the scrape registry plus ``extra`` collectors."""
    registry = scrape_registry()
    if not extra:
        return generate_latest(registry)
    combined = CollectorRegistry()
    combined.register(_Union(registry))
    for collector in extra:
        combined.register(collector)
    return generate_latest(combined)


class _Union:
    """A collector yielding another registry's metrics (to add collectors per scrape)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self):
        yield from self.registry.collect()
