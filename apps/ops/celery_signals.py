"""Celery's side of operations: task run and wait times, sweep durations, a scrape endpoint
per worker, and the worker's heartbeat (apps.ops.liveness).

A message carries the time it was published (header ``heatsite_sent_at``), so the wait in the
queue is measured where the task starts. Sweeps are the tasks named in ``SWEEPS``.
"""

from __future__ import annotations

import os
import time

from celery import signals
from prometheus_client import multiprocess, start_http_server

from . import liveness, metrics

SENT_AT = "heatsite_sent_at"
SWEEPS = {
    "apps.hardware.tasks.bmc_sweep_task": "bmc",
    "apps.hardware.tasks.bmc_sweep_nodes_task": "bmc_batch",
    "apps.hardware.tasks.bmc_log_sweep_task": "bmc_log",
    "apps.heat.tasks.meter_sweep_task": "meter",
    "apps.attestation.tasks.attestation_sweep_task": "attestation",
}
_started: dict[str, float] = {}


@signals.before_task_publish.connect
def _stamp(headers=None, **_):
    if headers is not None:
        headers.setdefault(SENT_AT, time.time())


@signals.task_prerun.connect
def _prerun(task_id=None, task=None, **_):
    _started[task_id] = time.perf_counter()
    sent_at = getattr(task.request, SENT_AT, None) if task is not None else None
    if isinstance(sent_at, int | float):
        metrics.TASK_WAIT_SECONDS.labels(task.name).observe(max(time.time() - sent_at, 0.0))


@signals.task_postrun.connect
def _postrun(task_id=None, task=None, state=None, **_):
    started = _started.pop(task_id, None)
    if started is None or task is None:
        return
    elapsed = time.perf_counter() - started
    metrics.TASK_SECONDS.labels(task.name, state or "UNKNOWN").observe(elapsed)
    sweep = SWEEPS.get(task.name)
    if sweep is not None:
        metrics.SWEEP_SECONDS.labels(sweep).observe(elapsed)


@signals.worker_init.connect
def _serve(**_):
    """``WORKER_METRICS_PORT`` set: the worker's main process serves /metrics on loopback (or
    ``WORKER_METRICS_ADDR``) for every process of its pool."""
    liveness.mark_main_process()
    port = os.environ.get("WORKER_METRICS_PORT")
    if port:
        addr = os.environ.get("WORKER_METRICS_ADDR", "127.0.0.1")
        start_http_server(int(port), addr=addr, registry=metrics.scrape_registry())


@signals.worker_ready.connect
def _beat(sender=None, **_):
    """The worker's main process tells it is alive (apps.ops.liveness)."""
    liveness.start_heartbeat(sender.hostname)


@signals.worker_process_shutdown.connect
def _dead(pid=None, **_):
    if metrics.multiprocess_dir():
        multiprocess.mark_process_dead(pid or os.getpid())
