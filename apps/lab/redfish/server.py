"""`LabRedfishServer`: the Redfish (HTTPS) faces of many lab BMCs, on one asyncio thread.

    with LabBmcServer(count=4) as lab, LabRedfishServer(lab.bmcs, state_dir=tmp) as redfish:
        endpoint = redfish.endpoint(0)   # host, port, credentials, certificate and fingerprint

Each BMC listens on its own TCP port (``port_offset`` + its IPMI UDP port, or a free port when
``port_offset`` is None) with its own self-signed certificate (`certs`). Connections are HTTP/1.1
keep-alive; all BMCs share one event loop, so one process serves hundreds of them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from apps.lab.redfish.certs import BmcCertificate
from apps.lab.redfish.http import MAX_HEAD, serve_connection
from apps.lab.redfish.service import RedfishService

DEFAULT_STATE_DIR = Path("var/lab/redfish")
DEFAULT_PORT_OFFSET = 10000  # documented: Redfish TCP port = IPMI UDP port + 10000
CLOSE_TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True)
class RedfishEndpoint:
    """How a client reaches one lab BMC's Redfish face."""

    name: str
    host: str
    port: int
    username: str
    password: str
    cert_path: str  # the BMC's certificate alone: what a client verifies against
    fingerprint: str  # SHA-256 of the DER certificate, lower-case hex

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"


class LabRedfishServer:
    """Redfish faces for ``bmcs`` (see module docstring)."""

    def __init__(
        self,
        bmcs: Iterable,
        *,
        state_dir: Path | str = DEFAULT_STATE_DIR,
        port_offset: int | None = None,
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.monotonic,
        session_timeout: int = 1800,
        max_sessions: int = 16,
        update_seconds: float = 30.0,
    ):
        self.bmcs = list(bmcs)
        self.state_dir = Path(state_dir)
        self.port_offset = port_offset
        self.host = host
        self.services = [
            RedfishService(
                bmc, clock=clock, session_timeout=session_timeout, max_sessions=max_sessions
            )
            for bmc in self.bmcs
        ]
        for service in self.services:
            service.update_seconds = update_seconds  # how long a firmware update task runs
        self.certificates: list[BmcCertificate] = []
        self._contexts: list[ssl.SSLContext] = []
        self.ports: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> LabRedfishServer:
        """Make (or load) the certificates, bind every port, start the loop thread."""
        self.certificates = [BmcCertificate.ensure(self.state_dir, b.name) for b in self.bmcs]
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="lab-redfish", daemon=True
        )
        self._thread.start()
        ready.wait()
        try:
            future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
            future.result()
        except BaseException:
            self.stop()
            raise
        return self

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(ready.set)
        self._loop.run_forever()

    async def _listen(self) -> None:
        for bmc, service, cert in zip(self.bmcs, self.services, self.certificates, strict=True):
            port = 0 if self.port_offset is None else bmc.port + self.port_offset
            if not 0 <= port <= 65535:
                raise OSError(f"no TCP port {port} for {bmc.name}: lower --redfish-offset")
            context = cert.server_context()
            self._contexts.append(context)
            server = await asyncio.start_server(
                functools.partial(self._connection, handler=service.handle, gate=service.gate),
                self.host,
                port,
                ssl=context,
                limit=MAX_HEAD,
                backlog=128,
                reuse_address=True,
            )
            self._servers.append(server)
            self.ports.append(server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Close every listener and connection, stop the loop."""
        loop = self._loop
        if loop is None:
            return
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=30)
        loop.close()
        self._loop = None

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        # at stop nobody waits for a peer's close_notify: every connection is dropped now
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers = []

    def __enter__(self) -> LabRedfishServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- access ------------------------------------------------------------------------

    def service(self, index: int) -> RedfishService:
        return self.services[index]

    def port(self, index: int) -> int:
        return self.ports[index]

    def endpoint(self, index: int) -> RedfishEndpoint:
        bmc = self.bmcs[index]
        cert = self.certificates[index]
        return RedfishEndpoint(
            name=bmc.name,
            host=self.host,
            port=self.ports[index],
            username=bmc.username,
            password=bmc.authdata[bmc.username],
            cert_path=str(cert.cert_path),
            fingerprint=cert.fingerprint,
        )

    def renew_certificate(self, index: int) -> str:
        """Fault switch: BMC ``index`` gets a new self-signed certificate (as after a BMC
        reflash or factory reset). New TLS handshakes present it; returns its fingerprint."""
        cert = BmcCertificate.ensure(self.state_dir, self.bmcs[index].name, renew=True)
        self.certificates[index] = cert
        if self._loop is not None and self._loop.is_running():
            # on the loop thread, between handshakes
            future = asyncio.run_coroutine_threadsafe(self._reload(index, cert.path), self._loop)
            future.result(timeout=30)
        else:
            self._contexts[index].load_cert_chain(cert.path)
        return cert.fingerprint

    async def _reload(self, index: int, path: Path) -> None:
        self._contexts[index].load_cert_chain(path)

    def reboot_bmc(self, index: int) -> None:
        """Fault: BMC ``index`` restarts and forgets its tasks, staged images and sessions."""
        self.services[index].reboot_bmc()

    def drop_connections(self) -> int:
        """Fault: every BMC drops its kept-alive connections (as after an idle timeout or a
        restart of its web server); returns how many were open."""

        async def drop() -> int:
            writers = list(self._writers)
            for writer in writers:
                writer.transport.abort()
            return len(writers)

        return asyncio.run_coroutine_threadsafe(drop(), self._loop).result(timeout=30)

    def endpoints(self) -> list[RedfishEndpoint]:
        return [self.endpoint(i) for i in range(len(self.bmcs))]

    async def _connection(self, reader, writer, *, handler, gate) -> None:
        self._writers.add(writer)
        try:
            await serve_connection(reader, writer, handler, gate)
        finally:
            # a TLS close waits for the peer's close_notify: bounded, then the socket is dropped
            try:
                await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)
            except (Exception, asyncio.CancelledError):
                writer.transport.abort()
            self._writers.discard(writer)
