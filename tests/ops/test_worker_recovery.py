"""A worker SIGKILLed (main process and pool) in the middle of a power action: the action is
re-run on another worker, once, on RabbitMQ and on Redis.

RabbitMQ requeues the unacknowledged message as soon as the dead worker's connection drops.
Redis would keep it until the visibility timeout (minutes): there the worker's heartbeat stops
and `apps.hardware.recovery` hands the action back to the queue. The time from the kill to
the action done is printed (and written to HEATSITE_RECOVERY_REPORT for
benchmarks/worker_recovery.py, which runs this with the production heartbeat settings)."""

import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest
from django.conf import settings

from apps.hardware import services
from apps.hardware.models import PowerAction
from apps.hardware.recovery import power_orphans_redispatch
from apps.hardware.tasks import power_execute_task
from apps.lab.bmc import LabBmcServer
from heatsite.celery import app
from tests.celery_worker import WAIT, celery_worker, database_url, wait_for
from tests.factories import NodeFactory

RABBITMQCTL = shutil.which("rabbitmqctl")
# tests/celery_worker.WORKER_OWN_QUEUE with a node name of its own (two workers share a queue).
WORKER = r"""
import sys
import django
django.setup()
from heatsite.celery import app
app.conf.task_default_queue = sys.argv[1]
app.worker_main(["worker", "--pool=prefork", "--concurrency=1", "-Q", sys.argv[1],
                 "-n", sys.argv[2] + "@%h", "--without-heartbeat", "--without-mingle",
                 "--without-gossip", "--loglevel=INFO"])
"""
TTL = os.environ.get("HEATSITE_RECOVERY_TTL", "3")  # production: 15 s (settings)


@pytest.fixture(scope="module")
def lab():
    with LabBmcServer(count=1) as server:
        yield server


def rabbitmq_vhost():
    vhost = f"heatsite-test-recovery-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    for args in (["add_vhost", vhost], ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]):
        done = subprocess.run([RABBITMQCTL, *args], capture_output=True, text=True, timeout=120)
        if done.returncode:
            pytest.skip(f"RabbitMQ is not usable here: {done.stderr.strip()[:200]}")
    return vhost


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request):
    if request.param == "redis":
        yield "redis", settings.CELERY_BROKER_URL
        return
    if RABBITMQCTL is None:
        pytest.skip("rabbitmqctl is not installed (RabbitMQ runs on CI's machine)")
    vhost = rabbitmq_vhost()
    try:
        yield "rabbitmq", f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        subprocess.run([RABBITMQCTL, "delete_vhost", vhost], capture_output=True, timeout=120)


@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_power_action_is_rerun_once(broker, lab, engineer, monkeypatch):
    kind, url = broker
    queue = f"heatsite-test-recovery-{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    env = {"CELERY_BROKER_URL": url, "WORKER_HEARTBEAT_SECONDS": "1", "WORKER_HEARTBEAT_TTL": TTL}
    with app.connection_for_write(url) as connection:
        monkeypatch.setattr(
            power_execute_task, "delay",
            lambda *args: power_execute_task.apply_async(args, queue=queue, connection=connection),
        )  # fmt: skip
        bmc = lab.bmc(0)
        bmc.set_power("on")
        bmc.chassis_controls.clear()
        # Every round trip takes 8 s (under the worker's 10-s BMC timeout): the first worker's
        # login holds the action long enough for the second worker to start beside it.
        bmc.faults.slow_ms = 8000
        node = NodeFactory(bmc_port=lab.port(0))
        database = database_url()
        with celery_worker(WORKER, queue, "first", database=database, env=env) as first:
            action = services.power_request(actor=engineer, node=node, kind="off")
            wait_for(
                lambda: PowerAction.objects.filter(pk=action.pk, status="running").exists(),
                "the first worker to start the action",
            )
            with celery_worker(WORKER, queue, "second", database=database, env=env):
                # Still the first worker's (its login keeps timing out and retrying).
                held = PowerAction.objects.get(pk=action.pk)
                assert held.status in PowerAction.ACTIVE and held.worker.startswith("first@")
                os.killpg(first.pid, signal.SIGKILL)  # the whole worker: main process and pool
                killed = time.monotonic()
                bmc.faults.slow_ms = 0

                def done():
                    if kind == "redis":
                        power_orphans_redispatch()  # what the beat does every interval
                    return PowerAction.objects.filter(
                        pk=action.pk, status__in=["succeeded", "failed"]
                    ).first()

                finished = wait_for(done, "the action to be run again")
                elapsed = time.monotonic() - killed
    assert finished.status == "succeeded", finished.error
    assert finished.worker.startswith("second@")
    assert (bmc.chassis_controls, bmc.power_state) == (["off"], "off")  # once
    print(f"{kind}: SIGKILL to action done in {elapsed:.1f} s (bound: {WAIT:.0f} s)")
    report = os.environ.get("HEATSITE_RECOVERY_REPORT")
    if report:
        with open(report, "a") as out:
            out.write(json.dumps({"broker": kind, "seconds": elapsed, "ttl": TTL}) + "\n")
