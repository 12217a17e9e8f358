"""Power actions through a real Celery worker (prefork) on the Redis broker.

The worker (tests/celery_worker.py) runs in a subprocess on a queue of its own and on the test
database. Before its pool forks, the worker's parent process
talks IPMI itself, so every task here also checks that a forked child can still use pyghmi.
"""

import os
import signal
import uuid

import pytest

from apps.hardware import services
from apps.hardware.models import PowerAction
from apps.hardware.tasks import power_execute_task
from apps.lab.bmc import LabBmcServer
from tests.celery_worker import celery_worker, database_url, pool_children, wait_for
from tests.factories import NodeFactory

QUEUE = f"heatsite-test-power-{os.getpid()}-{uuid.uuid4().hex[:8]}"
WARM_UP_BMC = 2  # the worker's parent process polls this one before forking its pool

WORKER = r"""
import os, sys
import django
django.setup()
from apps.hardware.drivers import BmcEndpoint, driver_for
from heatsite.celery import app
# pyghmi used in the parent: its I/O thread and sockets must not leak into the pool children
bmc = BmcEndpoint("127.0.0.1", int(sys.argv[2]), "admin", "password")
driver_for(bmc, timeout=10).power_state()
app.worker_main(["worker", "--pool=prefork", "--concurrency=1", "-Q", sys.argv[1],
                 "-n", sys.argv[1] + "@%h", "--without-heartbeat", "--without-mingle",
                 "--without-gossip", "--loglevel=INFO"])
"""


@pytest.fixture(scope="module")
def lab():
    with LabBmcServer(count=3) as server:
        yield server


@pytest.fixture(scope="module")
def worker(lab, django_db_blocker):
    """A prefork worker with one child, consuming only `QUEUE`; yields its main process."""
    with django_db_blocker.unblock():
        url = database_url()
    with celery_worker(WORKER, QUEUE, str(lab.port(WARM_UP_BMC)), database=url) as proc:
        yield proc


@pytest.fixture
def queued(monkeypatch, worker, lab):
    """Power tasks go to the test worker's queue; the lab BMCs start clean and powered on."""
    monkeypatch.setattr(
        power_execute_task, "delay", lambda *args: power_execute_task.apply_async(args, queue=QUEUE)
    )
    for index in range(lab.count):
        bmc = lab.bmc(index)
        bmc.faults.slow_ms = 0
        bmc.set_power("on")
        bmc.chassis_controls.clear()
    return worker


def finished(action_id: int) -> PowerAction:
    return wait_for(
        lambda: PowerAction.objects.filter(
            pk=action_id, status__in=["succeeded", "failed"]
        ).first(),
        f"power action {action_id} to finish",
    )


@pytest.mark.django_db(transaction=True)
def test_worker_child_forked_after_pyghmi_use_executes_a_power_action(queued, lab, engineer):
    assert lab.bmc(WARM_UP_BMC).request_count(0, 1) >= 1  # the parent did talk IPMI
    lab.bmc(0).set_power("off")
    node = NodeFactory(bmc_port=lab.port(0))
    action = services.power_request(actor=engineer, node=node, kind="on")
    done = finished(action.pk)
    assert (done.status, done.state_after, done.attempts) == ("succeeded", "on", 1), done.error
    assert lab.bmc(0).chassis_controls == ["on"]
    node.refresh_from_db()
    assert node.power_state == "on"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("kind", "status", "cause", "attempts"),
    [("off", "succeeded", "", 2), ("reset", "failed", "interrupted", 1)],
)
def test_a_worker_killed_mid_action_leaves_it_redone_once_or_refused(
    queued, lab, engineer, kind, status, cause, attempts
):
    bmc = lab.bmc(1)
    bmc.faults.slow_ms = 700  # every round trip takes 0.7 s: the login holds the action
    node = NodeFactory(bmc_port=lab.port(1))
    action = services.power_request(actor=engineer, node=node, kind=kind)
    wait_for(
        lambda: PowerAction.objects.filter(pk=action.pk, status="running").exists(),
        "the worker to start the action",
    )
    children = pool_children(queued.pid)
    assert len(children) == 1
    os.kill(children[0], signal.SIGKILL)
    bmc.faults.slow_ms = 0

    done = finished(action.pk)
    assert (done.status, done.error_cause, done.attempts) == (status, cause, attempts), done.error
    # never executed twice: exactly one power off; at most one reset (killed before sending it)
    if kind == "off":
        assert (bmc.chassis_controls, bmc.power_state) == (["off"], "off")
    else:
        assert bmc.chassis_controls in ([], ["reset"])
        assert "It was not repeated" in done.error
    assert wait_for(lambda: pool_children(queued.pid), "the pool to replace its child")
