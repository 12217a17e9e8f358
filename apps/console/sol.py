"""One IPMI serial-over-LAN session to one BMC (pyghmi), without Django.

The console broker (central, for nodes reached directly) and the site gateway (for the nodes of
its site, `apps.gateways.agent_console`) both drive `SolLink`; something in the process must run
`pump` (pyghmi's event loop: replies, SOL data, acks) while links are open.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyghmi.ipmi import console as ipmi_console
from pyghmi.ipmi.private import session as ipmi_session

from apps.hardware import pyghmi_compat
from apps.hardware.drivers.base import BmcEndpoint
from apps.hardware.drivers.ipmi import retransmits_within

pyghmi_compat.apply()

log = logging.getLogger(__name__)

NO_SESSION = ("insufficient resources", "maximum sol session", "active for another client")
BAD_CREDENTIALS = ("incorrect password", "unauthorized name", "rakp4", "unauthorized role")
# a gateway's link fails with these (the BMC may be fine: its site's gateway does not answer)
GATEWAY_OFFLINE = "site gateway offline"
GATEWAY_REFUSED = "site gateway refused"


class LinkError(Exception):
    """A SOL session could not be opened or was lost; the message is the BMC's reason."""


def classify(error: str) -> tuple[str, str]:
    """(state, reason shown to the engineer) for a pyghmi error text."""
    low = error.lower()
    if low.startswith(GATEWAY_OFFLINE):
        return "gateway_offline", f"Site gateway offline{error[len(GATEWAY_OFFLINE) :]}."
    if low.startswith(GATEWAY_REFUSED):
        return "failed", f"Site gateway refused{error[len(GATEWAY_REFUSED) :]}."
    if any(fragment in low for fragment in NO_SESSION):
        return "no_session", f"The BMC has no free session: {error}."
    if any(fragment in low for fragment in BAD_CREDENTIALS):
        return "failed", f"The BMC refused the stored credentials: {error}."
    if low in ("", "none", "timeout", "session failed to initialize"):
        return "lost", "The BMC does not answer."
    return "lost", f"BMC session lost: {error}."


class KeyboardQueue:
    """Keyboard input of a console link, written in order by one pool worker at a time (the
    broker's pool: a write may block). A link sets ``pool``, ``closed``, ``_lock``, ``_input``
    (a bytearray) and ``_sending``, and says what a chunk becomes (`_frame`, under the lock)
    and how it is written (`_write`)."""

    def send(self, data: bytes) -> None:
        """Queue keyboard input; one pool worker at a time writes it, in order."""
        with self._lock:
            self._input += data
            if self._sending or self.closed:
                return
            self._sending = True
        self.pool.submit(self._drain)

    def _writable(self) -> bool:
        return True

    def _frame(self, chunk: bytes) -> Any:
        return chunk

    def _write(self, frame: Any) -> None:
        raise NotImplementedError

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._input or self.closed or not self._writable():
                    self._sending = False
                    return
                frame = self._frame(bytes(self._input))
                self._input.clear()
            try:
                self._write(frame)
            except Exception as exc:  # the link died under us: the next probe notices
                log.info("console input to %s dropped: %s", self, exc)


class SolLink(KeyboardQueue):
    """One pyghmi SOL session to one BMC.

    `on_data(bytes)` and `on_error(text)` are called from pyghmi's threads; every blocking
    method runs in the broker's pool, never on its event loop.
    """

    def __init__(
        self,
        endpoint: BmcEndpoint,
        *,
        on_data: Callable[[bytes], None],
        on_error: Callable[[str], None],
        pool: ThreadPoolExecutor,
        timeout: float,
    ):
        self.endpoint = endpoint
        self.on_data = on_data
        self.on_error = on_error
        self.pool = pool
        self.timeout = timeout
        self.sol: ipmi_console.Console | None = None
        self.last_error = ""
        self.opened = False
        self.closed = False
        self._lock = threading.Lock()
        self._input = bytearray()
        self._sending = False

    def _io(self, data: Any) -> None:
        if isinstance(data, bytes | bytearray):
            if not self.closed:
                self.on_data(bytes(data))
            return
        if isinstance(data, dict) and "error" in data:
            self.last_error = str(data["error"])
            # errors while opening are the open() caller's to report
            if self.opened and not self.closed:
                self.on_error(self.last_error)

    def open(self) -> None:
        """Log in and activate the SOL payload (blocking; LinkError on failure)."""
        if not self.endpoint.host:
            raise LinkError("no BMC address is configured for this node")
        try:
            sol = ipmi_console.Console(
                self.endpoint.host,
                self.endpoint.username,
                self.endpoint.password,
                self._io,
                port=self.endpoint.port,
                force=True,  # a stale activation of ours (a crashed broker) is taken back
            )
        except Exception as exc:
            raise LinkError(str(exc) or exc.__class__.__name__) from exc
        self.sol = sol
        deadline = time.monotonic() + self.timeout * 2
        while not (sol.connected or sol.broken):
            if time.monotonic() > deadline or self.closed:
                self._abandon()
                raise LinkError("timeout")
            time.sleep(0.01)
        if sol.broken:
            raise LinkError(self.last_error or "timeout")
        sess = sol.ipmi_session
        # notice a dead BMC within the budget instead of pyghmi's ~30 s; no silent relogin
        sess.maxtimeout = retransmits_within(self.timeout) + 0.25
        sess.logontries = 0
        self.opened = True

    def probe(self) -> str:
        """The node's power state ("on"/"off"), checking that our SOL activation holds."""
        sol = self.sol
        sess = sol.ipmi_session if sol is not None else None
        if sol is None or sess is None or sol.broken:
            raise LinkError(self.last_error or "Session Disconnected")
        try:
            status = sess.raw_command(netfn=0, command=1)
            owner = sess.raw_command(netfn=6, command=0x4B, data=(1, 1))
        except Exception as exc:
            raise LinkError(str(exc) or "timeout") from exc
        if status.get("code") or "error" in status:
            raise LinkError(str(status.get("error", "chassis status refused")))
        if not owner.get("code") and bytes(owner["data"][:4]) != sess.sessionid.to_bytes(
            4, "little"
        ):
            raise LinkError("SOL deactivated")
        return "on" if status["data"][0] & 1 else "off"

    def _writable(self) -> bool:
        return self.sol is not None

    def _write(self, frame: bytes) -> None:
        self.sol.send_data(frame)  # waits for the BMC's ack

    def __str__(self) -> str:
        return str(self.endpoint)

    def close(self) -> None:
        """Deactivate the payload and log out, freeing the BMC slot (blocking, best effort)."""
        self.closed = True
        sol = self.sol
        if sol is None:
            return
        sess = sol.ipmi_session
        with contextlib.suppress(Exception):
            sol.close()
        with contextlib.suppress(Exception):
            if sess is not None and sess.logged and not sess.broken:
                sess.logout()

    def _abandon(self) -> None:
        sol = self.sol
        sess = sol.ipmi_session if sol is not None else None
        if sess is not None:
            with contextlib.suppress(Exception):
                sess._mark_broken("abandoned")


def pump(running: Callable[[], bool]) -> None:
    """pyghmi's event loop, while ``running()`` (one thread per process that opens links)."""
    idle = threading.Event()
    while running():
        if not ipmi_session.iothreadready:
            # no session yet: pyghmi's wait would block until its I/O thread exists (a broker
            # whose consoles all go through gateways never starts it, and could not stop)
            idle.wait(0.2)
            continue
        try:
            ipmi_session.Session.wait_for_rsp(timeout=0.2)
        except Exception:  # one session's bad packet must not stop every console
            log.exception("pyghmi event loop")
            time.sleep(0.1)
