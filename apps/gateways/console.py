"""Serial consoles through a site gateway: the console broker's side (decision 26).

For a node whose site has a gateway the broker's link is a `GatewaySolLink` instead of a pyghmi
`SolLink` (same methods): it asks the gateway to open the SOL session (the BMC's credentials and
a fresh session key sealed to that gateway), sends keyboard input to the gateway's console queue
and takes the gateway's output and states from ``central.console`` through the process's one
`ConsoleRelay`. What arrives is believed only when it is signed by the gateway the session was
asked of (and its bytes open with the session's key); a revoked gateway's session ends at the
next probe. The gateway's side and the messages are in `apps.gateways.agent_console`.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django import db
from django.conf import settings
from kombu import Connection, Exchange, Producer, Queue

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.console.sol import GATEWAY_OFFLINE, GATEWAY_REFUSED, KeyboardQueue, LinkError
from apps.gateways import crypto, wire
from apps.gateways.agent_console import (
    console_queue,
    consume_forever,
    stream_aad,
    stream_open,
    stream_seal,
)
from apps.gateways.models import Gateway
from apps.gateways.services import endpoint_plain
from apps.sites.models import Node

logger = logging.getLogger(__name__)
REVOCATION_RECHECK = 10.0  # seconds between a session's checks that its gateway is active

CONSOLE_RESULTS = Queue(
    wire.CONSOLE_RESULTS_QUEUE,
    Exchange(wire.RESULTS_EXCHANGE, "direct"),
    routing_key=wire.CONSOLE_RESULTS_QUEUE,
    durable=False,
    auto_delete=True,  # only a running console broker wants console bytes
)


def open_deadline() -> float:
    """Seconds a gateway has to open a console before it counts as offline."""
    return float(getattr(settings, "GATEWAY_CONSOLE_DEADLINE", 20))


def _audit(node_id: int, action: str, detail: dict[str, Any], result: str = "ok") -> None:
    """Audited from the broker's pool or the relay's thread (their connection closed after)."""
    try:
        node = Node.objects.select_related("site").filter(pk=node_id).first()
        audit_record(actor=None, action=action, target=node, result=result, detail=detail)
    except Exception:  # the audit write failing must not freeze the console
        logger.exception("console gateway audit failed")
    finally:
        _release()


def _release() -> None:
    # a thread of the broker's pool or the relay: no connection left behind (never inside a
    # caller's transaction)
    if not db.connection.in_atomic_block:
        db.connection.close()


def _gateway_active(name: str) -> bool:
    try:
        return Gateway.objects.filter(name=name, status=Gateway.Status.ACTIVE).exists()
    finally:
        _release()


class ConsoleRelay:
    """The process's AMQP side of gateway consoles: one consumer thread on ``central.console``
    (started at first use) and one publishing connection, shared by every `GatewaySolLink`."""

    _instance: ConsoleRelay | None = None
    _instance_lock = threading.Lock()

    @classmethod
    def get(cls) -> ConsoleRelay:
        with cls._instance_lock:
            if cls._instance is None or cls._instance.url != settings.GATEWAY_BROKER_URL:
                if cls._instance is not None:
                    cls._instance.close()
                cls._instance = cls(settings.GATEWAY_BROKER_URL)
            return cls._instance

    @classmethod
    def close_current(cls) -> None:
        """Closes the process's relay, if one was started (the next `get` starts another)."""
        with cls._instance_lock:
            relay, cls._instance = cls._instance, None
        if relay is not None:
            relay.close()

    def close(self) -> None:
        """Stops consuming and closes the publishing connection."""
        self.stop.set()
        with self._lock:
            if self._publisher is not None:
                self._publisher.release()
            self._publisher = None

    def __init__(self, url: str):
        self.url = url
        self.links: dict[str, GatewaySolLink] = {}
        self.ready = threading.Event()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._publisher: Connection | None = None
        self._declared: set[str] = set()
        threading.Thread(target=self._consume, name="console-relay", daemon=True).start()

    def _consume(self) -> None:
        def declare(conn: Connection) -> None:
            # the results exchange exists before any gateway answers into it
            Exchange(wire.RESULTS_EXCHANGE, "direct").bind(conn.default_channel).declare()

        consume_forever(
            lambda: Connection(self.url, connect_timeout=10, heartbeat=30),
            CONSOLE_RESULTS, self.receive, stop=self.stop, ready=self.ready,
            what="console relay: broker", prepare=declare,
        )  # fmt: skip

    def receive(self, body: Any) -> str:
        """One message from a gateway: refused unless its session is ours and it is signed by
        the gateway that session was asked of."""
        document = body.get("document") if isinstance(body, dict) else None
        signature = body.get("signature") if isinstance(body, dict) else None
        if not isinstance(document, dict) or not isinstance(signature, str):
            return "malformed"
        link = self.links.get(str(document.get("call_id", "")))
        if link is None:
            return "unknown"  # a closed session's last words (or a stranger's: not believed)
        name = str(document.get("gateway", ""))
        try:
            if name != link.gateway.name or document.get("kind") not in wire.CONSOLE_KINDS:
                raise crypto.SealError(f"not from {link.gateway.name}")
            crypto.verify(link.gateway.signing_public_key, document, signature)
        except crypto.SealError as error:
            _audit(
                link.target.node_id,
                "gateway.answer",
                {"gateway": name[:64], "reason": f"console: {error}"},
                AuditEvent.Result.REFUSED,
            )
            return "refused"
        link.receive(document["kind"], document.get("payload") or {})
        return "ok"

    def send(self, gateway: str, body: dict[str, Any], *, expires: float) -> None:
        """Publishes to the gateway's console queue (declared first: a message sent before the
        gateway ever ran waits there, until ``expires`` seconds)."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._publisher is None:
                        self._publisher = Connection(self.url, connect_timeout=10)
                        self._declared.clear()
                    channel = self._publisher.default_channel
                    if gateway not in self._declared:
                        console_queue(gateway).bind(channel).declare()
                        self._declared.add(gateway)
                    Producer(channel, auto_declare=False).publish(
                        body,
                        exchange=wire.queue_name(gateway),
                        routing_key=wire.console_queue_name(gateway),
                        serializer="json",
                        delivery_mode=1,
                        expiration=max(expires, 1.0),
                    )
                    return
                except Exception:
                    if self._publisher is not None:
                        self._publisher.release()
                    self._publisher = None
                    if attempt == 2:
                        raise


class GatewaySolLink(KeyboardQueue):
    """A node's SOL session held by its site's gateway, driven like `apps.console.sol.SolLink`
    by the broker (blocking methods run in its pool; callbacks from the relay's thread)."""

    def __init__(self, target: Any, *, on_data, on_error, pool: ThreadPoolExecutor, timeout):
        self.target, self.gateway = target, target.gateway
        self.on_data, self.on_error, self.pool, self.timeout = on_data, on_error, pool, timeout
        self.session = secrets.token_hex(16)
        self.key = os.urandom(32)
        self.relay: ConsoleRelay | None = None
        self.opened = False
        self.closed = False
        self._cond = threading.Condition()
        self._state = ""
        self._error = ""
        self._power = "unknown"
        self._pong = 0
        self._ping = 0
        self._seq_out = 0
        self._seq_in = 0
        self._input = bytearray()
        self._sending = False
        self._lock = threading.Lock()
        self._recheck_at = 0.0

    def __str__(self) -> str:
        return f"node {self.target.node_id} via gateway {self.gateway.name}"

    def _send(self, kind: str, expires: float, **fields: Any) -> None:
        body = {"type": kind, "gateway": self.gateway.name, "session": self.session, **fields}
        self.relay.send(self.gateway.name, body, expires=expires)

    def open(self) -> None:
        """Asks the gateway to open the SOL session (with our BMC budget, ``timeout``) and waits
        for its answer (blocking)."""
        name, deadline = self.gateway.name, open_deadline()
        if self.gateway.offline:
            raise LinkError(f"{GATEWAY_OFFLINE}: {name} has not been heard from recently")
        if not self.target.endpoint.host:
            raise LinkError("no BMC address is configured for this node")
        self.relay = ConsoleRelay.get()
        if not self.relay.ready.wait(deadline):
            raise LinkError(f"{GATEWAY_OFFLINE}: the gateways' broker cannot be reached")
        self.relay.links[self.session] = self
        secret = {
            "endpoint": endpoint_plain(self.target.endpoint),
            "key": base64.b64encode(self.key).decode(),
        }
        sealed = crypto.seal(self.gateway.box_public_key, secret, aad=f"{name}:{self.session}")
        try:
            self._send(
                "open",
                deadline,
                start_by=time.time() + deadline,
                keepalive=max(60.0, 10 * float(getattr(settings, "CONSOLE_PROBE_INTERVAL", 5))),
                timeout=self.timeout,
                sealed=sealed,
            )
        except Exception as error:
            self.relay.links.pop(self.session, None)
            raise LinkError(f"{GATEWAY_OFFLINE}: the gateway's queue is unavailable") from error
        detail = {"gateway": name, "session": self.session}
        with self._cond:
            answered = self._cond.wait_for(lambda: self._state or self.closed, timeout=deadline)
            state, error = self._state, self._error
        if not answered or self.closed:
            self.close()
            _audit(self.target.node_id, "console.gateway_open", detail, AuditEvent.Result.FAILED)
            raise LinkError(f"{GATEWAY_OFFLINE}: {name} did not open it within {deadline:g} s")
        if state != "opened":
            self.relay.links.pop(self.session, None)
            result = AuditEvent.Result.FAILED
            _audit(self.target.node_id, "console.gateway_open", {**detail, "error": error}, result)
            raise LinkError(error or "timeout")
        self.opened = True
        _audit(self.target.node_id, "console.gateway_open", detail)

    def receive(self, kind: str, payload: dict[str, Any]) -> None:
        """A verified message of this session's gateway (the relay's thread)."""
        if kind == "console_output":
            seq = int(payload["seq"])
            if seq <= self._seq_out:
                return  # replayed or duplicated
            aad = stream_aad(self.gateway.name, self.session, "out", seq)
            try:
                data = stream_open(self.key, payload, aad=aad)
            except crypto.SealError:
                logger.warning("console %s: output that does not open, dropped", self)
                return
            if seq != self._seq_out + 1:
                logger.warning("console %s: output %s..%s missing", self, self._seq_out + 1, seq)
            self._seq_out = seq
            if not self.closed:
                self.on_data(data)
            return
        with self._cond:
            if kind == "console_status":
                self._power = str(payload.get("power", "unknown"))
                self._pong = max(self._pong, int(payload.get("n", 0)))
            elif kind == "console_state":
                state, error = str(payload.get("state", "")), str(payload.get("error", ""))
                was_open = self.opened
                self._state, self._error = state, error or "the gateway closed the session"
                if was_open and state in ("lost", "closed", "failed") and not self.closed:
                    self.on_error(self._error)
            self._cond.notify_all()

    def probe(self) -> str:
        """The node's power state as the gateway reads it now; LinkError if the gateway does
        not answer in time (offline), was revoked, or lost the BMC."""
        now = time.monotonic()
        if now >= self._recheck_at:  # revoked since it was opened: its session ends here
            if not _gateway_active(self.gateway.name):
                raise LinkError(f"{GATEWAY_REFUSED}: {self.gateway.name} was revoked")
            self._recheck_at = now + REVOCATION_RECHECK
        # the gateway's probe gives up on the BMC within ~2 timeouts (then answers "lost")
        wait = 3 * float(self.timeout) + 5.0
        with self._cond:
            if self._state != "opened":
                raise LinkError(self._error or "Session Disconnected")
            self._ping += 1
            n = self._ping
        try:
            self._send("ping", wait, n=n)
        except Exception as error:
            raise LinkError(f"{GATEWAY_OFFLINE}: the gateway's queue is unavailable") from error
        with self._cond:
            self._cond.wait_for(lambda: self._pong >= n or self._state != "opened", timeout=wait)
            if self._state != "opened":
                raise LinkError(self._error or "Session Disconnected")
            if self._pong < n:
                raise LinkError(f"{GATEWAY_OFFLINE}: {self.gateway.name} did not answer")
            return self._power

    def _frame(self, chunk: bytes) -> tuple[int, bytes]:
        self._seq_in += 1  # under the queue's lock: numbered in the order typed
        return self._seq_in, chunk

    def _write(self, frame: tuple[int, bytes]) -> None:
        seq, chunk = frame
        aad = stream_aad(self.gateway.name, self.session, "in", seq)
        self._send("input", 30.0, seq=seq, **stream_seal(self.key, chunk, aad=aad))

    def close(self) -> None:
        """Asks the gateway to close the session (blocking, best effort), once."""
        with self._cond:
            if self.closed:
                return
            self.closed = True
            self._cond.notify_all()
        if self.relay is None:
            return
        self.relay.links.pop(self.session, None)
        try:
            self._send("close", 60.0)
        except Exception:
            logger.info("console %s: close not sent", self)
        if self.opened:
            detail = {"gateway": self.gateway.name, "session": self.session}
            _audit(self.target.node_id, "console.gateway_close", detail)
