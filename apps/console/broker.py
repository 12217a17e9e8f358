"""The console broker: one serial-over-LAN session per BMC, shared by every viewer.

Modelled on Confluent's consoleserver: the broker process (``manage.py console_broker``) owns
the pyghmi SOL sessions. Per node it keeps a replay buffer of the last screens, a log file per
day, the set of viewers and who holds the keyboard; it reconnects after a lost BMC session
(with bounded back-off), notices a powered-off node, and closes a console nobody has watched
for ``CONSOLE_IDLE_TIMEOUT`` seconds, freeing the BMC's session slot.

Browsers reach it only through the Channels layer (see `apps.console.protocol`). Threads:

* the asyncio loop (channel layer, viewers, keyboard, replay, logs, audit through services);
* one pump thread driving pyghmi's event loop (``wait_for_rsp``: replies, SOL data, acks);
* a small pool for the blocking pyghmi calls: login, sending input (``send_data`` waits for
  the BMC's ack), liveness probes, closing. Each SOL session sends from one worker at a time.

A node whose site has a gateway is never reached from here: its link is a
`apps.gateways.console.GatewaySolLink` (same interface), and the site's gateway opens the SOL
session (decision 26).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from apps.console import conf, services, sol
from apps.console.protocol import BROKER_CHANNEL, KEYBOARD_ACTIONS, MAX_INPUT_BYTES, output_group
from apps.console.sol import LinkError, SolLink, classify

log = logging.getLogger(__name__)

TICK = 0.2  # housekeeping period of the loop, seconds


class ConsoleLogWriter:
    """Appends a node's console output to ``<CONSOLE_LOG_DIR>/node-<id>/<UTC day>.log``."""

    def __init__(self, node_id: int):
        self.node_id = node_id
        self.day = ""
        self.handle: BinaryIO | None = None

    def write(self, data: bytes) -> None:
        day = datetime.datetime.now(datetime.UTC).date().isoformat()
        if day != self.day or self.handle is None:
            self.close()
            folder = conf.node_log_dir(self.node_id)
            folder.mkdir(parents=True, exist_ok=True)
            self.handle = (folder / f"{day}.log").open("ab")
            self.day = day
        self.handle.write(data)

    def mark(self, text: str) -> None:
        """An event line in the log (not shown in the terminal)."""
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.write(f"\r\n[heatsite {stamp}] {text}\r\n".encode())

    def flush(self) -> None:
        if self.handle is not None:
            self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


@dataclasses.dataclass
class Viewer:
    session_id: int
    user_id: int
    name: str
    channel: str
    seen: float


@dataclasses.dataclass
class NodeConsole:
    """The broker's state for one node's console."""

    node_id: int
    log: ConsoleLogWriter
    name: str = ""
    state: str = "connecting"
    reason: str = ""
    power: str = "unknown"
    link: SolLink | None = None
    replay: bytearray = dataclasses.field(default_factory=bytearray)
    total: int = 0
    pending: bytearray = dataclasses.field(default_factory=bytearray)
    flushing: bool = False
    viewers: dict[int, Viewer] = dataclasses.field(default_factory=dict)
    holder: int | None = None
    requested: int | None = None
    idle_since: float | None = None
    connecting: bool = False
    early_input: bytearray = dataclasses.field(default_factory=bytearray)
    probing: bool = False
    retry_at: float | None = None
    retry_delay: float = 0.0
    next_probe: float = 0.0

    def viewer_name(self, session_id: int | None) -> dict | None:
        viewer = self.viewers.get(session_id) if session_id is not None else None
        return {"session_id": viewer.session_id, "name": viewer.name} if viewer else None


class ConsoleBroker:
    """Owns every open console of the process (see module docstring); `run()` until `stop()`."""

    def __init__(self, *, layer: Any = None, channel: str = BROKER_CHANNEL, workers: int = 32):
        self.layer = layer if layer is not None else get_channel_layer()
        self.channel = channel
        self.workers = workers
        self.consoles: dict[int, NodeConsole] = {}
        self.epoch = secrets.token_hex(4)
        self.pool: ThreadPoolExecutor | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = threading.Event()
        self._running = False
        self._pump_thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until `stop()`; closes every BMC session on the way out."""
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="console-bmc")
        self._running = True
        self._pump_thread = threading.Thread(target=self._pump, name="console-pump", daemon=True)
        self._pump_thread.start()
        tasks = [
            asyncio.create_task(self._receive_loop()),
            asyncio.create_task(self._housekeeping_loop()),
        ]
        self.ready.set()
        try:
            await self._stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._close_all()

    def stop(self) -> None:
        """Ask `run()` to finish (thread-safe)."""
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)

    async def _close_all(self) -> None:
        links = [c.link for c in self.consoles.values() if c.link is not None]
        for console in self.consoles.values():
            console.log.mark("console closed (broker stopped)")
            console.log.close()
        self.consoles.clear()
        if links and self.pool is not None:
            closing = [self.loop.run_in_executor(self.pool, link.close) for link in links]
            await asyncio.wait(closing, timeout=10)
        self._running = False
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=5)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def _pump(self) -> None:
        sol.pump(lambda: self._running)

    # --- messages from consumers ---------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            message = await self.layer.receive(self.channel)
            try:
                await self.handle(message)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("console broker: malformed message %r (%s)", message, exc)
            except Exception:
                log.exception("console broker: message %r failed", message.get("type"))

    async def handle(self, message: dict[str, Any]) -> None:
        """Dispatch one request from a consumer (see `apps.console.protocol`)."""
        kind = message["type"]
        node_id = int(message["node_id"])
        session_id = int(message["session_id"])
        if kind in ("console.open", "console.touch"):
            await self._viewer_seen(node_id, session_id, message)
            return
        console = self.consoles.get(node_id)
        if console is None or session_id not in console.viewers:
            return  # a viewer the broker forgot (restart): its next touch re-registers it
        if kind == "console.input":
            await self._input(console, session_id, bytes(message["data"])[:MAX_INPUT_BYTES])
        elif kind == "console.keyboard":
            action = message["action"]
            if action not in KEYBOARD_ACTIONS:
                raise ValueError(f"unknown keyboard action {action!r}")
            await self._keyboard(console, session_id, action)
        elif kind == "console.leave":
            await self._leave(console, session_id)
        else:
            raise ValueError(f"unknown message type {kind!r}")

    async def _viewer_seen(self, node_id: int, session_id: int, message: dict[str, Any]) -> None:
        console = self.consoles.get(node_id)
        if console is not None and session_id in console.viewers:
            console.viewers[session_id].seen = self.loop.time()
            return
        recorded = await database_sync_to_async(services.console_session_is_open)(
            session_id=session_id, node_id=node_id, user_id=int(message["user_id"])
        )
        if not recorded:
            log.warning("console broker: no open session %s on node %s", session_id, node_id)
            return
        console = self.consoles.get(node_id)
        if console is None:
            console = self.consoles[node_id] = NodeConsole(
                node_id=node_id, log=ConsoleLogWriter(node_id)
            )
            self._start_connect(console)
        now = self.loop.time()
        console.viewers[session_id] = Viewer(
            session_id=session_id,
            user_id=int(message["user_id"]),
            name=str(message["name"]),
            channel=str(message["channel"]),
            seen=now,
        )
        console.idle_since = None
        await self.layer.send(
            message["channel"],
            {
                "type": "console.replay",
                "epoch": self.epoch,
                "end": console.total,
                "data": bytes(console.replay),
            },
        )
        if console.holder is None:
            console.holder = session_id
            await self._record(session_id, "granted")
        await self._status(console)

    async def _input(self, console: NodeConsole, session_id: int, data: bytes) -> None:
        viewer = console.viewers[session_id]
        viewer.seen = self.loop.time()
        if console.holder != session_id:
            holder = console.viewer_name(console.holder)
            who = holder["name"] if holder else "nobody"
            await self._notice(viewer, f"Input ignored: the keyboard is held by {who}.")
            return
        if console.link is not None and console.state in ("connected", "off"):
            console.link.send(data)
        elif console.connecting and len(console.early_input) + len(data) <= MAX_INPUT_BYTES:
            # typed while the session is being opened (the banner may already show): kept
            console.early_input += data
        else:
            await self._notice(viewer, "Input ignored: the console is not connected.")

    async def _keyboard(self, console: NodeConsole, session_id: int, action: str) -> None:
        holder = console.holder
        if action == "request":
            if holder is None:
                console.holder, console.requested = session_id, None
                await self._record(session_id, "granted")
            elif holder != session_id:
                console.requested = session_id
                await self._record(session_id, "requested", previous=holder)
        elif action == "take":
            if holder == session_id:
                return
            console.holder, console.requested = session_id, None
            await self._record(session_id, "taken", previous=holder)
        elif action == "release":
            if holder != session_id:
                return
            await self._record(session_id, "released")
            await self._hand_over(console)
        await self._status(console)

    async def _hand_over(self, console: NodeConsole) -> None:
        """The keyboard goes to whoever asked for it, if still watching; else to nobody."""
        successor = console.requested if console.requested in console.viewers else None
        console.holder, console.requested = successor, None
        if successor is not None:
            await self._record(successor, "granted")

    async def _leave(self, console: NodeConsole, session_id: int) -> None:
        console.viewers.pop(session_id, None)
        if console.requested == session_id:
            console.requested = None
        if console.holder == session_id:
            await self._record(session_id, "released")
            await self._hand_over(console)
        if not console.viewers:
            console.idle_since = self.loop.time()
        await self._status(console)

    async def _record(self, session_id: int, change: str, previous: int | None = None) -> None:
        try:
            await database_sync_to_async(services.console_keyboard_record)(
                session_id=session_id, change=change, previous_session_id=previous
            )
        except Exception:  # the audit write failing must not freeze the console
            log.exception("console keyboard audit failed")

    # --- to viewers ----------------------------------------------------------------------

    async def _status(self, console: NodeConsole) -> None:
        await self.layer.group_send(
            output_group(console.node_id),
            {
                "type": "console.status",
                "node": console.name,
                "state": console.state,
                "reason": console.reason,
                "power": console.power,
                "holder": console.viewer_name(console.holder),
                "requested": console.viewer_name(console.requested),
                "viewers": [
                    {"session_id": v.session_id, "name": v.name} for v in console.viewers.values()
                ],
            },
        )

    async def _notice(self, viewer: Viewer, text: str) -> None:
        await self.layer.send(viewer.channel, {"type": "console.notice", "text": text})

    def _set_state(self, console: NodeConsole, state: str, reason: str = "") -> bool:
        changed = (console.state, console.reason) != (state, reason)
        console.state, console.reason = state, reason
        return changed

    # --- the BMC side (pyghmi threads hand over through call_soon_threadsafe) -------------

    def _start_connect(self, console: NodeConsole) -> None:
        console.connecting = True
        console.retry_at = None
        self.loop.create_task(self._connect(console))

    async def _connect(self, console: NodeConsole) -> None:
        try:
            if console.state != "connecting" and self._set_state(console, "connecting"):
                await self._status(console)
            try:
                target = await database_sync_to_async(services.console_target)(
                    node_id=console.node_id
                )
            except LookupError:
                self._set_state(console, "failed", "This node no longer exists.")
                await self._status(console)
                return
            console.name = target.name
            link = self._make_link(console, target)
            try:
                await self.loop.run_in_executor(self.pool, link.open)
            except LinkError as error:
                self.pool.submit(link.close)
                await self._failed(console, str(error))
                return
            if self.consoles.get(console.node_id) is not console:
                self.pool.submit(link.close)  # closed for idleness while we logged in
                return
            console.link = link
            console.retry_delay = 0.0
            console.next_probe = 0.0  # read the power state at once
            console.log.mark("console connected")
            self._set_state(console, "connected")
            if console.early_input:
                link.send(bytes(console.early_input))
            await self._status(console)
        finally:
            console.connecting = False
            console.early_input.clear()

    def _make_link(self, console: NodeConsole, target: services.ConsoleTarget) -> SolLink:
        loop = self.loop
        holder: dict[str, SolLink] = {}

        def on_data(data: bytes) -> None:
            loop.call_soon_threadsafe(self._output, console, holder["link"], data)

        def on_error(text: str) -> None:
            loop.call_soon_threadsafe(self._lost, console, holder["link"], text)

        options = {"on_data": on_data, "on_error": on_error, "pool": self.pool}
        if target.gateway is not None:  # the site's gateway opens the SOL session, not us
            from apps.gateways.console import GatewaySolLink

            holder["link"] = GatewaySolLink(target, timeout=conf.bmc_timeout(), **options)
        else:
            holder["link"] = SolLink(target.endpoint, timeout=conf.bmc_timeout(), **options)
        return holder["link"]

    def _output(self, console: NodeConsole, link: SolLink, data: bytes) -> None:
        if self.consoles.get(console.node_id) is not console:
            return
        console.replay += data
        del console.replay[: -conf.replay_bytes()]
        console.total += len(data)
        console.log.write(data)
        console.pending += data
        if not console.flushing:
            console.flushing = True
            self.loop.create_task(self._flush(console))

    async def _flush(self, console: NodeConsole) -> None:
        # one flush task per console at a time keeps the output in order; bursts coalesce
        try:
            while console.pending:
                data = bytes(console.pending)
                console.pending.clear()
                await self.layer.group_send(
                    output_group(console.node_id),
                    {
                        "type": "console.output",
                        "epoch": self.epoch,
                        "offset": console.total - len(data),
                        "data": data,
                    },
                )
        finally:
            console.flushing = False

    def _lost(self, console: NodeConsole, link: SolLink, text: str) -> None:
        if console.link is not link:
            return  # an old session's last words
        self.loop.create_task(self._failed(console, text))

    async def _failed(self, console: NodeConsole, error: str) -> None:
        """A session failed to open or was lost: say why, close it, retry with back-off."""
        link, console.link = console.link, None
        if link is not None:
            self.pool.submit(link.close)
        if self.consoles.get(console.node_id) is not console:
            return
        state, reason = classify(error)
        base = conf.reconnect_delay()
        if state == "failed":
            base = conf.reconnect_max()  # credentials do not fix themselves quickly
        console.retry_delay = min(max(base, console.retry_delay * 2), conf.reconnect_max())
        console.retry_at = self.loop.time() + console.retry_delay
        if state in ("lost", "gateway_offline"):
            reason = f"{reason} Reconnecting in {console.retry_delay:g} s."
        if link is not None:
            console.log.mark(f"console lost: {error}")
        if self._set_state(console, state, reason):
            await self._status(console)

    # --- housekeeping --------------------------------------------------------------------

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                await self._housekeeping()
            except Exception:
                log.exception("console housekeeping failed")

    async def _housekeeping(self) -> None:
        now = self.loop.time()
        viewer_ttl = max(3 * conf.recheck_interval(), 30.0)
        for console in list(self.consoles.values()):
            console.log.flush()
            for viewer in list(console.viewers.values()):
                if now - viewer.seen > viewer_ttl:
                    await self._leave(console, viewer.session_id)  # its web process died
            if console.idle_since is not None and now - console.idle_since >= conf.idle_timeout():
                await self._close_idle(console)
                continue
            if console.retry_at is not None and now >= console.retry_at and not console.connecting:
                self._start_connect(console)
            elif console.link is not None and not console.probing and now >= console.next_probe:
                console.probing = True
                console.next_probe = now + conf.probe_interval()
                self.loop.create_task(self._probe(console, console.link))

    async def _probe(self, console: NodeConsole, link: SolLink) -> None:
        try:
            power = await self.loop.run_in_executor(self.pool, link.probe)
        except LinkError as error:
            if console.link is link:
                await self._failed(console, str(error))
            return
        finally:
            console.probing = False
        if console.link is not link:
            return
        state, reason = ("off", "The node is powered off.") if power == "off" else ("connected", "")
        changed = console.power != power
        console.power = power
        if self._set_state(console, state, reason) or changed:
            await self._status(console)

    async def _close_idle(self, console: NodeConsole) -> None:
        self.consoles.pop(console.node_id, None)
        link, console.link = console.link, None
        if link is not None:
            self.pool.submit(link.close)
        console.log.mark("console closed (idle)")
        console.log.close()
        self._set_state(console, "closed", "Closed after no one watched it.")
        await self._status(console)
