"""The brokered console against lab BMCs over UDP: shared output, keyboard, replay, faults."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from apps.audit.models import AuditEvent
from apps.console.models import ConsoleSession
from apps.hardware.drivers import driver_for
from tests.factories import UserFactory

WAIT = 60.0  # bounds a broken run only, as in conftest.py

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

BANNER = "serial console (type 'help')"


@pytest.fixture
def engineers(db):
    return UserFactory(username="alice"), UserFactory(username="bob")


async def test_two_viewers_see_the_same_output_and_keys_reach_the_shell(
    lab, lab_node, broker, viewers, engineers
):
    alice, bob = engineers
    first = await viewers(alice, lab_node.pk)
    await first.until(lambda v: BANNER in v.text)
    second = await viewers(bob, lab_node.pk)
    await second.until(lambda v: BANNER in v.text)

    await first.type("uname\r")

    for viewer in (first, second):
        await viewer.until(lambda v: "Linux lab-node-001 6.1.0-heatsite-lab" in v.text)
    # one SOL session on the BMC for both viewers
    assert lab.bmc(0).sol is not None
    assert len(lab.bmc(0).sessions) == 1


async def test_a_late_joiner_gets_the_replay_at_once(lab, lab_node, broker, viewers, engineers):
    alice, bob = engineers
    first = await viewers(alice, lab_node.pk)
    await first.until(lambda v: BANNER in v.text)
    await first.type("echo replayed-before-you-came\r")
    await first.until(lambda v: "\r\nreplayed-before-you-came\r\n" in v.text)

    late = await viewers(bob, lab_node.pk)
    # the replay is the first frame the late joiner gets: before any new output
    message = await late.communicator.receive_output(timeout=WAIT)
    while message.get("bytes") is None:
        message = await late.communicator.receive_output(timeout=WAIT)
    assert b"\r\nreplayed-before-you-came\r\n" in message["bytes"]
    assert BANNER.encode() in message["bytes"]


async def test_only_the_holder_types_and_a_take_over_is_recorded(
    lab, lab_node, broker, viewers, engineers
):
    alice, bob = engineers
    first = await viewers(alice, lab_node.pk)
    await first.until(
        lambda v: ((v.last("status") or {}).get("holder") or {}).get("name") == "alice"
    )
    second = await viewers(bob, lab_node.pk)
    await second.until(lambda v: BANNER in v.text and v.last("status"))

    await second.type("echo not-bobs-turn\r")
    await second.until(lambda v: v.last("notice"))
    assert "held by alice" in second.last("notice")["text"]

    await second.keyboard("request")
    await first.until(
        lambda v: ((v.last("status") or {}).get("requested") or {}).get("name") == "bob"
    )
    await second.keyboard("take")
    await first.until(lambda v: ((v.last("status") or {}).get("holder") or {}).get("name") == "bob")
    await second.type("echo bobs-turn\r")
    await first.until(lambda v: "\r\nbobs-turn\r\n" in v.text)
    assert "not-bobs-turn" not in first.text

    changes = await sync_to_async(list)(
        AuditEvent.objects.filter(action="console.keyboard")
        .order_by("id")
        .values_list("actor_name", "detail__change", "detail__from_user")
    )
    assert changes == [
        ("alice", "granted", None),
        ("bob", "requested", "alice"),
        ("bob", "taken", "alice"),
    ]


async def test_releasing_hands_the_keyboard_to_who_asked(lab, lab_node, broker, viewers, engineers):
    alice, bob = engineers
    first = await viewers(alice, lab_node.pk)
    await first.until(lambda v: (v.last("status") or {}).get("holder"))
    second = await viewers(bob, lab_node.pk)
    await second.keyboard("request")
    await first.until(lambda v: (v.last("status") or {}).get("requested"))
    await first.keyboard("release")
    await second.until(
        lambda v: ((v.last("status") or {}).get("holder") or {}).get("name") == "bob"
    )
    await first.close()
    await second.until(lambda v: [x["name"] for x in v.last("status")["viewers"]] == ["bob"])


async def test_the_bmc_session_is_lost_and_comes_back(lab, lab_node, broker, viewers, engineers):
    viewer = await viewers(engineers[0], lab_node.pk)
    await viewer.until_state("connected")
    lab.bmc(0).faults.unreachable = True

    lost = await viewer.until_state("lost")
    assert "Reconnecting" in lost["reason"]

    lab.bmc(0).faults.unreachable = False
    await viewer.until_state("connected")
    await viewer.type("echo back-again\r")
    await viewer.until(lambda v: "\r\nback-again\r\n" in v.text)


async def test_a_reset_while_watching_shows_the_boot_banner(
    lab, lab_node, broker, viewers, engineers
):
    viewer = await viewers(engineers[0], lab_node.pk)
    await viewer.until(lambda v: BANNER in v.text)

    await sync_to_async(driver_for(lab.endpoint(0)).power)("reset")

    await viewer.until(lambda v: "Booting lab-node-001 (boot #2)" in v.text)
    await viewer.until(lambda v: "lab-node-001 login: root" in v.text)


async def test_a_powered_off_node_is_shown_and_its_power_on_boots_on_screen(
    lab, lab_node, broker, viewers, engineers
):
    lab.bmc(0).set_power("off")
    viewer = await viewers(engineers[0], lab_node.pk)
    status = await viewer.until_state("off")
    assert status["power"] == "off"
    assert "powered off" in status["reason"]

    await sync_to_async(driver_for(lab.endpoint(0)).power)("on")

    await viewer.until(lambda v: "Memory test ... 262144 MB OK" in v.text)
    await viewer.until_state("connected")


async def test_a_bmc_without_a_free_session_says_why(lab, lab_node, broker, viewers, engineers):
    lab.bmc(0).faults.sessions_full = True
    viewer = await viewers(engineers[0], lab_node.pk)

    status = await viewer.until_state("no_session")

    assert "no free session" in status["reason"]
    assert "Insufficient resources" in status["reason"]
    lab.bmc(0).faults.sessions_full = False
    await viewer.until_state("connected")


async def test_sessions_are_audited_and_the_output_is_logged(
    lab, lab_node, broker, viewers, engineers, console_settings
):
    viewer = await viewers(engineers[0], lab_node.pk)
    await viewer.until(lambda v: BANNER in v.text)
    await viewer.type("echo into-the-log\r")
    await viewer.until(lambda v: "\r\ninto-the-log\r\n" in v.text)
    await viewer.close()
    viewer.closed_code = 1000

    folder = console_settings.CONSOLE_LOG_DIR / f"node-{lab_node.pk}"
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        logs = list(folder.glob("*.log"))
        if logs and b"into-the-log\r\n" in logs[0].read_bytes():
            break
        await asyncio.sleep(0.05)
    content = logs[0].read_bytes()
    assert b"console connected" in content
    assert BANNER.encode() in content
    session = await ConsoleSession.objects.aget(node=lab_node)
    assert session.username == "alice"
    assert session.closed_at is not None
    actions = await sync_to_async(list)(
        AuditEvent.objects.filter(target_id=str(lab_node.pk))
        .order_by("id")
        .values_list("action", "actor_name")
    )
    assert actions[0] == ("console.open", "alice")
    assert ("console.close", "alice") in actions


async def test_an_idle_console_frees_the_bmc_session(
    lab, lab_node, broker, viewers, engineers, console_settings
):
    console_settings.CONSOLE_IDLE_TIMEOUT = 0.5
    viewer = await viewers(engineers[0], lab_node.pk)
    await viewer.until_state("connected")
    assert lab.bmc(0).sol is not None
    await viewer.close()
    viewer.closed_code = 1000

    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if lab.bmc(0).sol is None and not lab.bmc(0).sessions:
            break
        await asyncio.sleep(0.05)
    assert lab.bmc(0).sol is None
    assert not lab.bmc(0).sessions
    assert lab_node.pk not in broker.consoles
