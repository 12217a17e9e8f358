"""`ws/nodes/<id>/console/`: a node's serial console for engineers, relayed to the broker.

The consumer authenticates, authorises through `access` (partners and planners are refused at
connect), records the session, and forwards bytes: keyboard input to the broker, output and
status from the node's group to the browser (output as binary frames). It re-checks access
every ``CONSOLE_RECHECK_INTERVAL`` seconds and before keyboard actions, so an engineer whose
role changes or who is deactivated is disconnected. No driver calls, no ORM writes here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from channels.db import database_sync_to_async
from django.http import Http404
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from apps.accounts import access
from apps.accounts.languages import scope_language
from apps.accounts.models import User
from apps.accounts.policy import Action
from apps.console import conf, services
from apps.console.console_text import said
from apps.console.protocol import BROKER_CHANNEL, KEYBOARD_ACTIONS, MAX_INPUT_BYTES, output_group
from apps.core.consumers import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    AuthorisedConsumer,
    sync_authorise,
)
from apps.hardware.protocols import has_serial_console
from apps.identity import recent


class ReauthRequired(PermissionError):
    """No second factor within the last minutes: re-authenticate on the console page first."""

    close_code = 4428


# A Redfish-only node: Heatsite's console is IPMI SOL, which such a BMC does not offer.
CLOSE_NO_CONSOLE = 4409
NO_SOL = gettext_noop(
    "This node's BMC is reached over Redfish only: Heatsite's serial console is IPMI "
    "serial-over-LAN, which it does not offer. Set the node's protocol to IPMI or auto "
    "if its BMC also speaks IPMI."
)


@database_sync_to_async
def _recent_factor(scope: dict[str, Any]) -> bool:
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return True  # refused as unauthenticated right after
    return recent.is_recent_session(scope.get("session"), user)


@sync_authorise
def _console_node(user: Any, node_id: int) -> tuple[int, bool]:
    """The node's id and whether it has a serial console (IPMI SOL; not a Redfish-only BMC)."""
    node = access.node_for_user(user, node_id, Action.OPEN_CONSOLE)
    return node.pk, has_serial_console(node)


@sync_authorise
def _still_allowed(user_id: int, node_id: int) -> int:
    # reload: the user in the scope is the one who connected, not today's role
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise Http404("No such user.")
    return access.node_for_user(user, node_id, Action.OPEN_CONSOLE).pk


@database_sync_to_async
def _open_session(user: Any, node_id: int) -> int:
    node = access.node_for_user(user, node_id, Action.OPEN_CONSOLE)
    return services.console_session_open(user=user, node=node).pk


@database_sync_to_async
def _close_session(session_id: int, reason: str) -> None:
    services.console_session_close(session_id=session_id, reason=reason)


class NodeConsoleConsumer(AuthorisedConsumer):
    """One browser's view of a node's console (see module docstring)."""

    session_id: int | None = None

    async def authorise(self, user: Any) -> list[str]:
        self.language = scope_language(self.scope)
        self.node_id, self.has_console = await _console_node(
            user, int(self.scope["url_route"]["kwargs"]["node_id"])
        )
        # Opening a console is a dangerous act (apps.identity.dangerous): a second factor used
        # within the last minutes, asked once access is settled (partners still get 404).
        if not await _recent_factor(self.scope):
            raise ReauthRequired(recent.detail())
        return [output_group(self.node_id)]

    async def connect(self) -> None:
        self.epoch: str | None = None
        self.replays = 0
        self.position = 0
        self.held: list[dict[str, Any]] = []
        self.last_check = time.monotonic()
        await super().connect()
        if not hasattr(self, "groups_joined"):
            return  # refused
        if not self.has_console:
            await self._error(NO_SOL)
            await self.close(code=CLOSE_NO_CONSOLE)
            return
        user = self.scope["user"]
        self.session_id = await _open_session(user, self.node_id)
        await self.send_json(
            {"type": "hello", "session_id": self.session_id, "user": user.get_username()}
        )
        await self._to_broker("console.open")
        self.watchdog = asyncio.create_task(self._recheck_loop())

    async def disconnect(self, code: int) -> None:
        watchdog = getattr(self, "watchdog", None)
        if watchdog is not None:
            watchdog.cancel()
        await self._end("disconnected")
        await super().disconnect(code)

    async def session_ended(self, reason: str) -> None:
        # the user's sessions were ended: leave the broker and close the record before closing
        await self._end(reason or "session ended")

    async def _end(self, reason: str) -> None:
        """Leaves the broker's viewers and closes the session record, once."""
        session_id, self.session_id = self.session_id, None
        if session_id is None:
            return
        with contextlib.suppress(Exception):  # a broker outage must not block the close
            await self.channel_layer.send(
                BROKER_CHANNEL,
                {"type": "console.leave", "node_id": self.node_id, "session_id": session_id},
            )
        await _close_session(session_id, reason)

    async def _to_broker(self, kind: str, **fields: Any) -> None:
        user = self.scope["user"]
        await self.channel_layer.send(
            BROKER_CHANNEL,
            {
                "type": kind,
                "node_id": self.node_id,
                "session_id": self.session_id,
                "user_id": user.pk,
                "name": user.get_username(),
                "channel": self.channel_name,
                **fields,
            },
        )

    # --- access re-checks ----------------------------------------------------------------

    async def _recheck_loop(self) -> None:
        while True:
            await asyncio.sleep(conf.recheck_interval())
            if not await self._recheck():
                return
            # tells the broker this viewer is alive (and re-registers it after a restart)
            await self._to_broker("console.touch")

    async def _recheck(self) -> bool:
        self.last_check = time.monotonic()
        try:
            await _still_allowed(self.scope["user"].pk, self.node_id)
        except (PermissionError, LookupError) as refusal:
            code = CLOSE_FORBIDDEN if isinstance(refusal, PermissionError) else CLOSE_NOT_FOUND
            await self.send_json(
                {
                    "type": "revoked",
                    "text": self._text(gettext_noop("Your access to this console ended.")),
                }
            )
            await self.close(code=code)
            await self._end("access revoked")
            return False
        return True

    # --- from the browser ----------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self._error(gettext_noop("Send JSON text frames."))
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._error(gettext_noop("Malformed JSON."))
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "input" and isinstance(content.get("data"), str):
            data = content["data"].encode("utf-8")
            if len(data) > MAX_INPUT_BYTES:
                await self._error(
                    gettext_noop("At most %(bytes)s bytes of input per message."),
                    bytes=MAX_INPUT_BYTES,
                )
                return
            # a revoked engineer must not type for up to a whole recheck interval
            if (
                time.monotonic() - self.last_check >= conf.input_recheck_age()
                and not await self._recheck()
            ):
                return
            await self._to_broker("console.input", data=data)
        elif kind == "keyboard" and content.get("action") in KEYBOARD_ACTIONS:
            if await self._recheck():
                await self._to_broker("console.keyboard", action=content["action"])
        else:
            await self._error(gettext_noop("Unknown message: expected input or keyboard."))

    def _text(self, msgid: str, **values: Any) -> str:
        """One of the consumer's own sentences in the socket's reader's language."""
        with translation.override(self.language):
            return gettext(msgid) % values if values else gettext(msgid)

    async def _error(self, msgid: str, **values: Any) -> None:
        await self.send_json({"type": "error", "text": self._text(msgid, **values)})

    # --- from the broker -----------------------------------------------------------------

    async def console_replay(self, event: dict[str, Any]) -> None:
        if self.replays:
            await self.send_json({"type": "reset"})  # the broker restarted: redraw from replay
        self.replays += 1
        self.epoch = event["epoch"]
        self.position = event["end"]
        if event["data"]:
            await self.send(bytes_data=bytes(event["data"]))
        held, self.held = self.held, []
        for output in held:
            await self.console_output(output)

    async def console_output(self, event: dict[str, Any]) -> None:
        if self.epoch is None:
            self.held.append(event)  # before the replay: kept, trimmed once it arrives
            return
        if event["epoch"] != self.epoch:
            self.epoch = None
            self.held = [event]
            await self._to_broker("console.touch")
            return
        data, offset = bytes(event["data"]), event["offset"]
        end = offset + len(data)
        if end <= self.position:
            return  # already in the replay
        data = data[max(self.position - offset, 0) :]
        self.position = end
        await self.send(bytes_data=data)

    async def console_status(self, event: dict[str, Any]) -> None:
        # the broker's reason is English (shared by every viewer, logged): each reader gets theirs
        with translation.override(self.language):
            reason_text = said(event.get("reason", ""))
        await self.send_json({**event, "type": "status", "reason_text": reason_text})

    async def console_notice(self, event: dict[str, Any]) -> None:
        with translation.override(self.language):
            text = said(event["text"])
        await self.send_json({"type": "notice", "text": text})
