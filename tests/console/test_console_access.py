"""Who may open a console, and what happens when that changes while it is open."""

import pytest
from asgiref.sync import sync_to_async

from apps.accounts.models import Role
from apps.console.models import ConsoleSession
from tests.console.conftest import open_viewer

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("role", "code"),
    [("partner", 4404), ("planner", 4403), ("admin", 4403)],
)
async def test_only_engineers_are_let_in(users, node, role, code):
    connected, close_code, _ = await open_viewer(users[role], node.pk)
    assert (connected, close_code) == (False, code)
    assert not await ConsoleSession.objects.filter(node=node).aexists()


async def test_an_unknown_node_is_refused_as_not_found(users, node):
    connected, code, _ = await open_viewer(users["engineer"], node.pk + 1000)
    assert (connected, code) == (False, 4404)


@pytest.mark.parametrize(
    ("change", "code"),
    [({"role": Role.PLANNER}, 4403), ({"is_active": False}, 4404)],
)
async def test_a_revoked_engineer_is_disconnected(
    users, lab_node, broker, viewers, console_settings, change, code
):
    console_settings.CONSOLE_RECHECK_INTERVAL = 0.2
    engineer = users["engineer"]
    viewer = await viewers(engineer, lab_node.pk)
    await viewer.until(lambda v: v.last("status"))

    for field, value in change.items():
        setattr(engineer, field, value)
    await sync_to_async(engineer.save)()

    await viewer.until(lambda v: v.closed_code is not None)
    # Two mechanisms race: the user's sessions end on save (apps.identity.sessions: 4401) and
    # the viewer's access re-check (4403/4404); either closes the console, first one wins.
    assert viewer.closed_code in (code, 4401)
    assert viewer.last("revoked")
    session = await ConsoleSession.objects.aget(node=lab_node)
    assert session.closed_at is not None
    assert session.close_reason in (
        "access revoked",
        "user deactivated",
        "role changed from engineer to planner",
    )


async def test_a_revoked_engineers_keystrokes_are_refused_before_the_next_recheck(
    users, lab, lab_node, broker, viewers, console_settings
):
    console_settings.CONSOLE_RECHECK_INTERVAL = 3600
    console_settings.CONSOLE_INPUT_RECHECK_AGE = 0
    engineer = users["engineer"]
    viewer = await viewers(engineer, lab_node.pk)
    await viewer.until_state("connected")
    engineer.role = Role.PLANNER
    await sync_to_async(engineer.save)()

    await viewer.type("echo too-late\r")

    await viewer.until(lambda v: v.closed_code is not None)
    assert viewer.closed_code in (4403, 4401)  # the re-check, or the sessions ended on save
    assert b"too-late" not in lab.bmc(0).console_log


async def test_bad_messages_get_one_clear_error_and_the_console_stays_open(
    users, lab_node, broker, viewers
):
    viewer = await viewers(users["engineer"], lab_node.pk)
    await viewer.communicator.send_to(text_data="{not json")
    await viewer.until(lambda v: v.last("error"))
    assert viewer.last("error")["text"] == "Malformed JSON."
    await viewer.communicator.send_json_to({"type": "keyboard", "action": "steal"})
    await viewer.until(lambda v: len([e for e in v.events if e["type"] == "error"]) == 2)
    await viewer.communicator.send_json_to({"type": "input", "data": "x" * 5000})
    await viewer.until(lambda v: "At most 4096 bytes" in v.last("error")["text"])
    await viewer.communicator.send_to(bytes_data=b"\x00")
    await viewer.until(lambda v: v.last("error")["text"] == "Send JSON text frames.")

    await viewer.type("echo still-here\r")
    await viewer.until(lambda v: "\r\nstill-here\r\n" in v.text)
