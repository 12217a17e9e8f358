"""Power actions through the services, against lab BMCs over real UDP.

`power_execute` is called the way the task calls it (and again when it asks for a retry), so
these tests need no broker; the Celery paths are in `test_worker_celery.py`.
"""

import pytest

from apps.audit.models import AuditEvent
from apps.hardware import services
from apps.hardware.drivers import BmcError
from apps.hardware.models import BmcFacts, PowerAction
from apps.hardware.tasks import power_execute_task
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db

CHASSIS_CONTROL = (0, 2)


@pytest.fixture(autouse=True)
def _bmc_settings(settings):
    settings.BMC_TIMEOUT = 3.0
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def lab_nodes(lab, site):
    """One node per lab BMC, in the `site` fixture."""
    return [
        NodeFactory(site=site, name=f"lyo-n{i}", bmc_port=lab.port(i), power_w=400.0)
        for i in range(lab.count)
    ]


def execute(action_id: int) -> PowerAction:
    """Runs the action as the task would, retries included (without waiting out countdowns)."""
    for _ in range(services.MAX_ATTEMPTS + 1):
        attempt = services.power_execute(action_id)
        if attempt.retry_in is None:
            break
    return PowerAction.objects.get(pk=action_id)


def audit_results(action: PowerAction) -> list[str]:
    events = AuditEvent.objects.filter(action=f"power.{action.kind}", target_id=str(action.node_id))
    return list(events.order_by("id").values_list("result", flat=True))


@pytest.mark.parametrize(
    ("start", "kind", "final", "boots"),
    [
        ("off", "on", "on", 1),
        ("on", "off", "off", 0),
        ("on", "soft", "off", 0),
        ("on", "reset", "on", 1),
        ("on", "cycle", "on", 1),
    ],
)
def test_each_power_action_runs_and_records_the_state(
    lab, lab_nodes, engineer, start, kind, final, boots
):
    bmc, node = lab.bmc(0), lab_nodes[0]
    bmc.set_power(start)
    boot_count = bmc.boot_count
    action = services.power_request(actor=engineer, node=node, kind=kind)
    assert action.status == PowerAction.Status.PENDING
    assert audit_results(action) == [AuditEvent.Result.PENDING]

    done = execute(action.pk)

    assert done.status == PowerAction.Status.SUCCEEDED, done.error
    assert bmc.chassis_controls == [kind]
    assert bmc.power_state == final
    assert bmc.boot_count == boot_count + boots
    assert done.state_after == final
    assert f"the node is now {final}" in done.result
    assert (done.attempts, done.started_at is not None, done.finished_at is not None) == (
        1,
        True,
        True,
    )
    node.refresh_from_db()
    assert node.power_state == final
    assert audit_results(done) == [AuditEvent.Result.PENDING, AuditEvent.Result.OK]


@pytest.mark.parametrize(("persistent", "uefi"), [(True, True), (False, False)])
def test_boot_device_override_reaches_the_bmc_and_the_facts(
    lab, lab_nodes, engineer, persistent, uefi
):
    params = {"device": "network", "persistent": persistent, "uefi": uefi}
    action = services.power_request(
        actor=engineer, node=lab_nodes[1], kind="bootdev", params=params
    )
    done = execute(action.pk)
    assert done.status == PowerAction.Status.SUCCEEDED, done.error
    assert lab.bmc(1).boot == params
    assert BmcFacts.objects.get(node=lab_nodes[1]).boot_device == params
    assert done.result == f"Next boot from network ({'persistent' if persistent else 'once'})"
    assert lab.bmc(1).chassis_controls == []


def test_unknown_boot_device_is_refused_before_anything_is_stored(lab_nodes, engineer):
    with pytest.raises(BmcError, match="Unknown boot device"):
        services.power_request(
            actor=engineer, node=lab_nodes[0], kind="bootdev", params={"device": "floppy"}
        )
    assert not PowerAction.objects.exists()


@pytest.mark.parametrize(("start", "kind"), [("on", "on"), ("off", "off"), ("off", "soft")])
def test_asking_for_the_present_state_succeeds_without_sending_anything(
    lab, lab_nodes, engineer, start, kind
):
    bmc = lab.bmc(2)
    bmc.set_power(start)
    action = services.power_request(actor=engineer, node=lab_nodes[2], kind=kind)
    done = execute(action.pk)
    assert done.status == PowerAction.Status.SUCCEEDED
    assert done.result == f"Already {start}: nothing was sent."
    assert bmc.chassis_controls == []
    assert bmc.request_count(*CHASSIS_CONTROL) == 0


def test_a_second_action_on_a_busy_node_is_refused_clearly_and_audited(lab_nodes, engineer):
    node = lab_nodes[0]
    first = services.power_request(actor=engineer, node=node, kind="off")
    with pytest.raises(services.PowerConflict) as refused:
        services.power_request(actor=engineer, node=node, kind="reset")
    assert str(refused.value) == (
        "lyo-n0 already has an action in progress (power off (hard)); wait for it to finish."
    )
    assert list(PowerAction.objects.values_list("pk", flat=True)) == [first.pk]
    refusal = AuditEvent.objects.get(action="power.reset")
    assert refusal.result == AuditEvent.Result.REFUSED
    assert refusal.detail["reason"] == str(refused.value)


def test_a_finished_action_frees_the_node_for_the_next(lab, lab_nodes, engineer):
    node = lab_nodes[0]
    execute(services.power_request(actor=engineer, node=node, kind="off").pk)
    second = services.power_request(actor=engineer, node=node, kind="on")
    assert execute(second.pk).status == PowerAction.Status.SUCCEEDED
    assert lab.bmc(0).chassis_controls == ["off", "on"]


def test_a_planner_cannot_request_power(lab_nodes, planner):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.power_request(actor=planner, node=lab_nodes[0], kind="off")
    assert not PowerAction.objects.exists()


def test_bad_credentials_fail_at_once_with_the_cause(lab, site, engineer):
    node = NodeFactory(site=site, bmc_port=lab.port(3), bmc_password="not-the-password")
    action = services.power_request(actor=engineer, node=node, kind="off")
    attempt = services.power_execute(action.pk)
    assert attempt.retry_in is None
    done = PowerAction.objects.get(pk=action.pk)
    assert (done.status, done.error_cause, done.attempts) == ("failed", "bad_credentials", 1)
    assert "rejected the user name or password" in done.error
    assert lab.bmc(3).chassis_controls == []
    assert audit_results(done) == [AuditEvent.Result.PENDING, AuditEvent.Result.FAILED]


@pytest.mark.parametrize(
    ("fault", "value"), [("unreachable", True), ("slow_ms", 4000)], ids=["unreachable", "too-slow"]
)
def test_unreachable_and_too_slow_bmcs_are_retried_bounded_then_failed(
    lab, lab_nodes, engineer, settings, monkeypatch, fault, value
):
    settings.BMC_TIMEOUT = 1.0
    monkeypatch.setattr(services, "MAX_ATTEMPTS", 2)
    setattr(lab.bmc(1).faults, fault, value)
    action = services.power_request(actor=engineer, node=lab_nodes[1], kind="off")

    first = services.power_execute(action.pk)
    assert first.retry_in == 2.0
    pending = PowerAction.objects.get(pk=action.pk)
    assert (pending.status, pending.error_cause) == ("pending", "unreachable")
    assert pending.is_active  # still holds the node while it waits for the retry

    second = services.power_execute(action.pk)
    assert second.retry_in is None
    done = PowerAction.objects.get(pk=action.pk)
    assert (done.status, done.error_cause, done.attempts) == ("failed", "unreachable", 2)
    assert "No answer from admin@127.0.0.1" in done.error
    assert lab.bmc(1).chassis_controls == []
    assert audit_results(done) == [AuditEvent.Result.PENDING, AuditEvent.Result.FAILED]


def test_a_slow_bmc_within_the_timeout_just_works(lab, lab_nodes, engineer):
    lab.bmc(2).faults.slow_ms = 150
    done = execute(services.power_request(actor=engineer, node=lab_nodes[2], kind="off").pk)
    assert (done.status, done.state_after) == ("succeeded", "off")
    assert lab.bmc(2).chassis_controls == ["off"]


def test_full_session_table_is_retried_and_succeeds_once_a_slot_frees(lab, lab_nodes, engineer):
    lab.bmc(3).faults.sessions_full = True
    action = services.power_request(actor=engineer, node=lab_nodes[3], kind="off")
    first = services.power_execute(action.pk)
    assert first.retry_in is not None
    assert PowerAction.objects.get(pk=action.pk).error_cause == "no_session_slot"
    lab.bmc(3).faults.sessions_full = False
    second = services.power_execute(action.pk)
    assert second.retry_in is None
    done = PowerAction.objects.get(pk=action.pk)
    assert (done.status, done.attempts, done.state_after) == ("succeeded", 2, "off")
    assert lab.bmc(3).chassis_controls == ["off"]


def test_full_session_table_fails_after_the_bounded_retries(lab, lab_nodes, engineer):
    lab.bmc(3).faults.sessions_full = True
    done = execute(services.power_request(actor=engineer, node=lab_nodes[3], kind="on").pk)
    assert (done.status, done.error_cause, done.attempts) == (
        "failed",
        "no_session_slot",
        services.MAX_ATTEMPTS,
    )
    assert "no free session slot" in done.error


class LostReply:
    """Wraps the real driver: the command reaches the BMC, then its reply is 'lost'."""

    def __init__(self, driver):
        self.driver = driver

    def power(self, kind):
        self.driver.power(kind)
        raise BmcError("timeout")

    def __getattr__(self, name):
        return getattr(self.driver, name)


def test_the_state_is_reread_after_a_failed_attempt_and_not_sent_again(
    lab, lab_nodes, engineer, monkeypatch
):
    real = services.driver_for
    monkeypatch.setattr(services, "driver_for", lambda *a, **kw: LostReply(real(*a, **kw)))
    reads = lab.bmc(0).request_count(0, 1)
    done = execute(services.power_request(actor=engineer, node=lab_nodes[0], kind="off").pk)
    assert done.status == PowerAction.Status.SUCCEEDED
    assert done.result == "The node is off (confirmed after a retry)."
    assert (done.attempts, done.state_after) == (1, "off")
    assert lab.bmc(0).chassis_controls == ["off"]
    assert lab.bmc(0).request_count(0, 1) >= reads + 2  # before the action, and the re-read


def test_reset_of_an_off_node_fails_with_the_bmc_refusal(lab, lab_nodes, engineer):
    lab.bmc(0).set_power("off")
    done = execute(services.power_request(actor=engineer, node=lab_nodes[0], kind="reset").pk)
    assert (done.status, done.error_cause, done.attempts) == ("failed", "bad_power_state", 1)
    assert "not possible in the present power state" in done.error


def test_an_interrupted_reset_is_not_repeated(lab, lab_nodes, engineer):
    action = services.power_request(actor=engineer, node=lab_nodes[0], kind="reset")
    # what a worker killed after marking the action running leaves behind
    PowerAction.objects.filter(pk=action.pk).update(status="running", attempts=1)
    done = execute(action.pk)
    assert (done.status, done.error_cause) == ("failed", "interrupted")
    assert "It was not repeated" in done.error
    assert lab.bmc(0).chassis_controls == []


def test_an_interrupted_power_off_is_run_again_once(lab, lab_nodes, engineer):
    action = services.power_request(actor=engineer, node=lab_nodes[0], kind="off")
    PowerAction.objects.filter(pk=action.pk).update(status="running", attempts=1)
    done = execute(action.pk)
    assert (done.status, done.attempts) == ("succeeded", 2)
    assert lab.bmc(0).chassis_controls == ["off"]
    assert execute(action.pk).attempts == 2  # a duplicate delivery does nothing


def test_an_unexpected_error_fails_the_action_instead_of_leaving_it_running(
    lab, lab_nodes, engineer, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "driver_for", broken)
    done = execute(services.power_request(actor=engineer, node=lab_nodes[0], kind="off").pk)
    assert (done.status, done.error_cause) == ("failed", "internal")
    assert "RuntimeError" in done.error
    # the node is free again
    services.power_request(actor=engineer, node=lab_nodes[0], kind="on")


def test_a_broker_outage_fails_the_action_instead_of_leaving_it_queued(
    lab_nodes, engineer, monkeypatch, django_capture_on_commit_callbacks
):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(power_execute_task, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        action = services.power_request(actor=engineer, node=lab_nodes[0], kind="off")
    action.refresh_from_db()
    assert (action.status, action.error_cause) == ("failed", "queue")
    assert "nothing was sent" in action.error


# -- bulk ---------------------------------------------------------------------------------


def test_bulk_action_rolls_through_the_site_within_the_concurrency_limit(
    make_lab, site, engineer, monkeypatch, django_capture_on_commit_callbacks
):
    lab = make_lab(count=6)
    nodes = [NodeFactory(site=site, bmc_port=lab.port(i)) for i in range(6)]
    queue: list[int] = []
    monkeypatch.setattr(services, "_send", queue.append)  # the broker, as a list
    with django_capture_on_commit_callbacks(execute=True):
        batch, skipped = services.bulk_power_request(
            actor=engineer, site=site, kind="off", nodes=nodes, concurrency=2
        )
    assert skipped == []
    assert len(queue) == 2
    in_flight_max, progress = 0, []
    while queue:
        in_flight = PowerAction.objects.filter(
            batch=batch, status__in=PowerAction.ACTIVE, enqueued_at__isnull=False
        ).count()
        in_flight_max = max(in_flight_max, in_flight)
        with django_capture_on_commit_callbacks(execute=True):
            execute(queue.pop(0))
        progress.append(batch.actions.exclude(status__in=PowerAction.ACTIVE).count())
    assert in_flight_max == 2
    assert progress == [1, 2, 3, 4, 5, 6]
    assert set(batch.actions.values_list("status", flat=True)) == {"succeeded"}
    assert [lab.bmc(i).power_state for i in range(6)] == ["off"] * 6
    assert all(lab.bmc(i).chassis_controls == ["off"] for i in range(6))


def test_bulk_action_skips_busy_nodes_and_audits_them(lab_nodes, site, engineer):
    services.power_request(actor=engineer, node=lab_nodes[1], kind="on")
    batch, skipped = services.bulk_power_request(
        actor=engineer, site=site, kind="off", nodes=lab_nodes, concurrency=3
    )
    assert skipped == [
        "lyo-n1 already has an action in progress (power on); wait for it to finish."
    ]
    assert batch.actions.count() == 3
    assert batch.actions.filter(enqueued_at__isnull=False).count() == 3
    refused = AuditEvent.objects.get(action="power.off", result=AuditEvent.Result.REFUSED)
    assert refused.target_id == str(lab_nodes[1].pk)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "bootdev"}, "Unknown bulk action"),
        ({"kind": "off", "concurrency": 0}, "Concurrency must be between 1 and 16"),
    ],
)
def test_bulk_action_rejects_bad_input(lab_nodes, site, engineer, kwargs, message):
    with pytest.raises(ValueError, match=message):
        services.bulk_power_request(actor=engineer, site=site, nodes=lab_nodes, **kwargs)


def test_bulk_action_refuses_nodes_of_another_site(lab_nodes, other_site, engineer):
    with pytest.raises(ValueError, match="must belong to the site"):
        services.bulk_power_request(actor=engineer, site=other_site, kind="off", nodes=lab_nodes)
