"""A rotation through a real Celery worker (prefork, Redis) whose child is SIGKILLed mid-rotation:
the redelivered task resumes it with the password stored before the kill, and a BMC that
already took it is not asked again.

The worker runs as in test_worker_celery (its own queue, the test database), with a short
rotation lease so that the redelivered task does not wait the production five minutes.
"""

import os
import signal
import uuid

import pytest

from apps.audit.models import AuditEvent
from apps.hardware import rotation
from apps.hardware.tasks import bmc_password_rotate_task
from apps.lab.bmc import LabBmcServer
from apps.sites.models import Node
from tests.celery_worker import celery_worker, database_url, pool_children, wait_for
from tests.factories import NodeFactory
from tests.hardware.test_worker_celery import WORKER

QUEUE = f"heatsite-test-rotation-{os.getpid()}-{uuid.uuid4().hex[:8]}"
SET_USER_PASSWORD = (0x06, 0x47)
LEASE_S = 4  # longer than a run at lab speed; the worker's retry waits for it to lapse


@pytest.fixture(scope="module")
def lab():
    with LabBmcServer(count=3) as server:
        yield server


@pytest.fixture(scope="module")
def worker(lab, django_db_blocker):
    """A prefork worker with one child, consuming only `QUEUE`; yields its main process."""
    with django_db_blocker.unblock():
        url = database_url()
    env = {"BMC_ROTATION_LEASE": str(LEASE_S)}
    with celery_worker(WORKER, QUEUE, str(lab.port(2)), database=url, env=env) as proc:
        yield proc


@pytest.fixture
def queued(monkeypatch, worker, settings):
    settings.BMC_ROTATION_LEASE = LEASE_S  # this process agrees with the worker
    monkeypatch.setattr(
        bmc_password_rotate_task,
        "delay",
        lambda *args: bmc_password_rotate_task.apply_async(args, queue=QUEUE),
    )
    return worker


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("killed", ["before the BMC took it", "after the BMC took it"])
def test_a_worker_killed_mid_rotation_is_resumed_and_the_bmc_changed_once(
    queued, lab, engineer, killed
):
    index = 0 if killed.startswith("before") else 1
    bmc = lab.bmc(index)
    bmc.faults.slow_ms = 1000  # every round trip takes 1 s: a login holds the run for seconds
    node = NodeFactory(bmc_port=lab.port(index))
    rotation.bmc_password_rotate_request(actor=engineer, node=node, source="page")

    stored = wait_for(
        lambda: Node.objects.filter(pk=node.pk).exclude(bmc_password_pending_encrypted="").first(),
        "the worker to store the new password",
    )
    new = stored.bmc_password_pending
    if killed.startswith("after"):
        wait_for(lambda: bmc.password_for("admin") == new, "the BMC to take the new password")
    children = pool_children(queued.pid)
    assert len(children) == 1
    os.kill(children[0], signal.SIGKILL)
    bmc.faults.slow_ms = 0
    # once the BMC has it, a second change would fail the rotation: the resume must not send one
    bmc.faults.password_refused = killed.startswith("after")

    done = wait_for(
        lambda: Node.objects.filter(
            pk=node.pk, bmc_rotation_state="", bmc_password_rotated_at__isnull=False
        ).first(),
        "the redelivered task to finish the rotation",
    )
    assert done.bmc_password == new and done.bmc_password_pending_encrypted == ""
    assert bmc.password_for("admin") == new
    assert bmc.request_count(*SET_USER_PASSWORD) >= 1  # (pyghmi may resend a slow request)
    finished = AuditEvent.objects.get(action=rotation.ACTION, result="ok")
    expected = "promoted" if killed.startswith("after") else "rotated"
    assert (finished.actor, finished.detail["resumed"]) == (engineer, True)
    assert finished.detail["outcome"] == expected
    assert wait_for(lambda: pool_children(queued.pid), "the pool to replace its child")
