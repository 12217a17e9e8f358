"""A firmware update through a real Celery worker (prefork, Redis) whose child is SIGKILLed
while it follows the BMC's task: the step is redelivered (acks_late), the update still ends
by the version read back, and the node is reset exactly once.

The worker runs as tests/celery_worker.py starts it (its own queue, the test database);
here every task it sends (next steps, the reset's power action) goes to that queue too, and it
waits at most a second between polls so the run takes seconds, not minutes.
"""

import gc
import os
import signal
import threading
import uuid

import pytest

from apps.firmware.models import FirmwareUpdate
from apps.firmware.tasks import firmware_update_advance_task
from apps.hardware.models import PowerAction
from apps.lab.redfish.updates import MONITORS
from tests.celery_worker import WAIT, celery_worker, database_url, pool_children, wait_for
from tests.celery_worker import WORKER_OWN_QUEUE as WORKER
from tests.firmware.conftest import UPDATE_SECONDS, request, store

QUEUE = f"heatsite-test-firmware-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    return tmp_path_factory.mktemp("firmware-images")


@pytest.fixture(scope="module")
def worker(django_db_blocker, image_root):
    with django_db_blocker.unblock():
        url = database_url()
    env = {"FIRMWARE_POLL_MAX": "1", "FIRMWARE_IMAGE_ROOT": str(image_root)}
    with celery_worker(WORKER, QUEUE, database=url, env=env) as proc:
        yield proc


@pytest.fixture
def queued(monkeypatch, worker, settings, image_root):
    settings.FIRMWARE_IMAGE_ROOT = image_root  # this process stores where the worker reads
    monkeypatch.setattr(
        firmware_update_advance_task,
        "delay",
        lambda *args: firmware_update_advance_task.apply_async(args, queue=QUEUE),
    )
    return worker


@pytest.fixture
def collected_after_the_lab():
    """Requested before `lab`, so torn down after it: collects what the stopped lab dropped.
    A TLS connection whose client was SIGKILLed mid-request is left to the collector by the
    lab's Redfish server (its stop aborts only the connections it still tracks); collected
    here, the ResourceWarning belongs to this test, which ignores it (a lab leak, not ours)."""
    yield
    gc.collect()


def _state(update, *states):
    return FirmwareUpdate.objects.filter(pk=update.pk, state__in=states).first()


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_worker_killed_while_following_the_task_resumes_and_resets_the_node_once(
    collected_after_the_lab, queued, lab, fw_node, engineer, lab_redfish_clock
):
    bmc, service = lab.bmc(0), lab.redfish.service(0)
    update = request(engineer, fw_node, store(engineer, "NIC", "22.70.0"))
    wait_for(lambda: _state(update, "running"), "the worker to start the update")
    # Hold the worker's next look at the task monitor at the BMC: its child is then inside a
    # step, waiting for the answer, when it is killed.
    arrived, release = threading.Event(), threading.Event()
    dispatch = service._dispatch

    def held(lab_request):
        if lab_request.path.startswith(MONITORS) and not arrived.is_set():
            arrived.set()
            release.wait(WAIT)
        return dispatch(lab_request)

    service._dispatch = held
    assert arrived.wait(WAIT), "the worker never polled the task monitor"
    children = pool_children(queued.pid)
    assert len(children) == 1
    os.kill(children[0], signal.SIGKILL)
    release.set()
    lab_redfish_clock.advance(UPDATE_SECONDS)

    done = wait_for(lambda: _state(update, "succeeded", "failed"), "the update to finish")
    assert (done.state, done.version_read_back) == ("succeeded", "22.70.0"), done.reason
    assert PowerAction.objects.filter(node=fw_node).count() == 1
    assert bmc.chassis_controls.count("reset") == 1
    assert wait_for(lambda: pool_children(queued.pid), "the pool to replace its child")
