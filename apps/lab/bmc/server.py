"""`LabBmcServer`: many simulated BMCs on consecutive UDP ports, one thread serving them all.

    with LabBmcServer(count=4) as lab:           # free consecutive ports on 127.0.0.1
        lab.bmc(0).faults.unreachable = True
        endpoint = lab.endpoint(1)                 # a BmcEndpoint for the driver

The loop thread owns all protocol state; timers (power transitions, slow replies, SOL
retransmits) run on it too. Nothing here touches pyghmi's client I/O thread, so a client and
the lab can share a process (tests) without sharing sockets or the client's session registry.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import logging
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable

from apps.lab.bmc.node import Faults, LabBmc

log = logging.getLogger(__name__)

HOUSEKEEPING_PERIOD = 0.5


class LabBmcServer:
    """A fleet of lab BMCs (see module docstring). ``configs`` overrides per-BMC settings."""

    def __init__(
        self,
        count: int = 1,
        *,
        base_port: int = 0,
        host: str = "127.0.0.1",
        username: str = "admin",
        password: str = "password",  # noqa: S107 - the lab's documented demo credential
        power_delay: float = 0.0,
        max_sessions: int = 16,
        idle_timeout: float = 60.0,
        load: float = 0.6,
        loop_return_c: float = 40.0,
        power: str = "on",
        faults: Faults | None = None,
        configs: Iterable[dict] | None = None,
    ):
        self.host = host
        self.loop_return_c = loop_return_c
        self._defaults = {
            "username": username,
            "password": password,
            "power_delay": power_delay,
            "max_sessions": max_sessions,
            "idle_timeout": idle_timeout,
            "load": load,
            "power": power,
        }
        self._faults = faults
        self._configs = [dict(c) for c in configs] if configs is not None else None
        self.count = len(self._configs) if self._configs is not None else count
        if self.count < 1:
            raise ValueError("a lab needs at least one BMC")
        self.base_port = base_port
        self.bmcs: list[LabBmc] = []
        self._timers: list = []
        self._timer_ids = itertools.count()
        self._timer_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> LabBmcServer:
        """Bind the sockets and start the loop thread."""
        sockets = self._bind()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        for index, sock in enumerate(sockets):
            options = dict(self._defaults)
            name = f"lab-node-{index + 1:03d}"
            if self._configs is not None:
                config = self._configs[index]
                name = config.get("name", name)
                for field in ("username", "password", "nominal_power_w", "load", "power"):
                    if field in config:
                        options[field] = config[field]
            faults = Faults(**vars(self._faults)) if self._faults else Faults()
            bmc = LabBmc(self, sock, index=index, name=name, faults=faults, **options)
            self.bmcs.append(bmc)
            self._selector.register(sock, selectors.EVENT_READ, bmc)
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="lab-bmc", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the loop and close every socket."""
        self._running = False
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for bmc in self.bmcs:
            bmc.socket.close()
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        if self._selector is not None:
            self._selector.close()

    def __enter__(self) -> LabBmcServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until interrupted (the CLI)."""
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=1)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # --- access ------------------------------------------------------------------------

    def bmc(self, index: int) -> LabBmc:
        return self.bmcs[index]

    def port(self, index: int) -> int:
        return self.bmcs[index].port

    def endpoint(self, index: int, **overrides):
        """A `BmcEndpoint` for BMC ``index`` (credentials as configured)."""
        from apps.hardware.drivers.base import BmcEndpoint

        bmc = self.bmcs[index]
        password = bmc.authdata[bmc.username]
        values = {
            "host": self.host,
            "port": bmc.port,
            "username": bmc.username,
            "password": password,
            "site": f"lab-site-{index % 4}",
        }
        values.update(overrides)
        return BmcEndpoint(**values)

    def endpoints(self) -> list:
        return [self.endpoint(i) for i in range(len(self.bmcs))]

    # --- timers ------------------------------------------------------------------------

    def call_later(self, delay: float, fn: Callable, *args) -> None:
        """Run ``fn(*args)`` on the loop thread after ``delay`` seconds (0 = now, in order)."""
        with self._timer_lock:
            heapq.heappush(
                self._timers, (time.monotonic() + delay, next(self._timer_ids), fn, args)
            )
        if threading.current_thread() is not self._thread:
            self._wake()

    def _wake(self) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"\x00")

    def _run_timers(self, now: float) -> float:
        while True:
            with self._timer_lock:
                if not self._timers or self._timers[0][0] > now:
                    return self._timers[0][0] - now if self._timers else HOUSEKEEPING_PERIOD
                _, _, fn, args = heapq.heappop(self._timers)
            self._guard(fn, *args)

    def _guard(self, fn: Callable, *args) -> None:
        try:
            fn(*args)
        except Exception:
            # one bad packet or timer must never stop the lab for every other BMC
            log.exception("lab BMC handler failed")

    # --- the loop ----------------------------------------------------------------------

    def _loop(self) -> None:
        selector = self._selector
        next_housekeeping = time.monotonic() + HOUSEKEEPING_PERIOD
        while self._running:
            wait = min(self._run_timers(time.monotonic()), HOUSEKEEPING_PERIOD)
            for key, _ in selector.select(max(wait, 0)):
                bmc = key.data
                sock = key.fileobj
                if bmc is None:
                    try:
                        while sock.recv(512):
                            pass
                    except OSError:
                        pass
                    continue
                for _ in range(64):
                    try:
                        data, addr = sock.recvfrom(4096, socket.MSG_DONTWAIT)
                    except OSError:
                        break
                    self._guard(bmc.datagram, data, addr)
            now = time.monotonic()
            if now >= next_housekeeping:
                next_housekeeping = now + HOUSEKEEPING_PERIOD
                for bmc in self.bmcs:
                    self._guard(bmc.expire_sessions, now)

    def _bind(self) -> list[socket.socket]:
        if self.base_port:
            return self._bind_block(self.base_port)
        for _ in range(100):
            base = random.randrange(20000, 60000 - self.count)
            try:
                return self._bind_block(base)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        raise OSError(errno.EADDRINUSE, f"no block of {self.count} free UDP ports found")

    def _bind_block(self, base: int) -> list[socket.socket]:
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + self.count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
                sock.bind((self.host, port))
        except OSError:
            for sock in sockets:
                sock.close()
            raise
        return sockets
