"""Serial consoles on the site gateway: the SOL sessions of its site's BMCs, relayed over AMQP.

No Django here. The central console broker keeps viewers, replay, logs and the keyboard; for a
node behind a gateway it asks the gateway to open the SOL session, and IPMI never leaves the
site. Messages (JSON):

central -> ``gw.NAME.console`` (exchange ``gw.NAME``), each with ``gateway`` and ``session``:
    open   start_by, keepalive, timeout, sealed {endpoint, key}  (sealed to this gateway only)
    input  seq, nonce, ct      keyboard bytes, AES-GCM with the session key, in order
    ping   n                   "are you there": the gateway probes the BMC and answers status
    close
gateway -> exchange ``heatsite.results``, routing key ``central.console``: signed envelopes
(`wire.envelope`, Ed25519) whose ``call_id`` is the session:
    console_state   state: opened | failed | lost | closed, error
    console_output  seq, nonce, ct (bytes batched, numbered from 1, AES-GCM with the session key)
    console_status  n, power

The session key comes sealed to this gateway only, so the broker sees neither the BMC's
credentials nor what is typed or shown, and the central side knows that the bytes of a session
come from the gateway it asked (the key) and its state messages too (the signature).
"""

from __future__ import annotations

import base64
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from kombu import Connection, Exchange, Producer, Queue

from apps.gateways import crypto, wire

logger = logging.getLogger("heatsite.gateway")
MAX_BATCH = 16384  # console output bytes per message
SESSION_CHARS = set("0123456789abcdef")


def stream_seal(key: bytes, data: bytes, *, aad: str) -> dict[str, str]:
    nonce = os.urandom(12)
    body = AESGCM(key).encrypt(nonce, data, aad.encode())
    return {"nonce": base64.b64encode(nonce).decode(), "ct": base64.b64encode(body).decode()}


def stream_open(key: bytes, box: dict[str, Any], *, aad: str) -> bytes:
    try:
        nonce, body = base64.b64decode(box["nonce"]), base64.b64decode(box["ct"])
        return AESGCM(key).decrypt(nonce, body, aad.encode())
    except (InvalidTag, KeyError, TypeError, ValueError) as error:
        raise crypto.SealError("console bytes that do not open with the session key") from error


def stream_aad(gateway: str, session: str, direction: str, seq: int) -> str:
    """Binds a console message to its gateway, session, direction ("in"/"out") and place."""
    return f"{gateway}:{session}:{direction}:{seq}"


def consume_forever(
    connect: Callable[[], Connection],
    queue: Queue,
    handle: Callable[[Any], Any],
    *,
    stop: threading.Event,
    ready: threading.Event,
    what: str,
    prepare: Callable[[Connection], None] | None = None,
) -> None:
    """Consumes ``queue`` until ``stop``, each message acknowledged then given to ``handle``
    (whose failure is logged, never fatal); a lost broker is tried again with back-off up to
    30 s, ``ready`` set while consuming. Both sides of the console stream run one."""

    def message(body: Any, msg: Any) -> None:
        msg.ack()
        try:
            handle(body)
        except Exception:
            logger.exception("%s: message failed", what)

    delay = 1.0
    while not stop.is_set():
        try:
            with connect() as conn:
                if prepare is not None:
                    prepare(conn)
                with conn.Consumer(queue, callbacks=[message], accept=["json"]):
                    ready.set()
                    delay = 1.0
                    while not stop.is_set():
                        try:
                            conn.drain_events(timeout=1)
                        except TimeoutError:
                            conn.heartbeat_check()
        except Exception as error:
            ready.clear()
            logger.warning("%s unavailable (%s); again in %g s", what, error, delay)
            stop.wait(delay)
            delay = min(delay * 2, 30.0)


def console_queue(gateway: str) -> Queue:
    """The gateway's console queue (central declares it too, with the same arguments)."""
    return Queue(
        wire.console_queue_name(gateway),
        Exchange(wire.queue_name(gateway), "direct"),
        routing_key=wire.console_queue_name(gateway),
        durable=False,
    )


class _Session:
    def __init__(self, session: str, key: bytes, keepalive: float):
        self.id, self.key, self.keepalive = session, key, keepalive
        self.link: Any = None
        self.lock = threading.Lock()
        self.buffer = bytearray()
        self.dirty = False
        self.seq_out = 0
        self.seq_in = 0
        self.seen = time.monotonic()
        self.closed = False


class GatewayConsoles:
    """The gateway's console sessions: one consumer thread (its console queue), one sender
    thread (every message to central, in order), pyghmi's pump and a keepalive sweep."""

    def __init__(
        self,
        *,
        name: str,
        broker_url: str,
        ssl: Any,
        keys: crypto.GatewayKeys,
        timeout: float,
        version: str,
    ):
        self.name, self.broker_url, self.ssl = name, broker_url, ssl
        self.keys, self.timeout, self.version = keys, timeout, version
        self.sessions: dict[str, _Session] = {}
        self.outbox: queue.Queue = queue.Queue()
        self.pool = ThreadPoolExecutor(8, thread_name_prefix="gw-console")
        self.stop = threading.Event()
        self.ready = threading.Event()  # consuming its console queue

    def start(self) -> None:
        from apps.console import sol

        for target, label in (
            (self._consume, "consume"),
            (self._send_loop, "send"),
            (lambda: sol.pump(lambda: not self.stop.is_set()), "pump"),
            (self._sweep, "sweep"),
        ):
            threading.Thread(target=target, name=f"gw-console-{label}", daemon=True).start()

    def _connection(self) -> Connection:
        return Connection(self.broker_url, ssl=self.ssl, connect_timeout=10, heartbeat=30)

    # -- from central ----------------------------------------------------------------------

    def _consume(self) -> None:
        consume_forever(
            self._connection, console_queue(self.name), self.handle,
            stop=self.stop, ready=self.ready, what="console queue",
        )  # fmt: skip

    def handle(self, body: Any) -> None:
        if not isinstance(body, dict) or body.get("gateway") != self.name:
            logger.warning("a malformed or misaddressed console message was ignored")
            return
        session_id = str(body.get("session", ""))
        if not session_id or not set(session_id) <= SESSION_CHARS:
            return
        kind = body.get("type")
        if kind == "open":
            self._open(session_id, body)
            return
        session = self.sessions.get(session_id)
        if session is None:
            if kind == "ping":  # central believes in a session we do not have (restarted)
                self._state(session_id, "lost", "the gateway has no such console session")
            return
        session.seen = time.monotonic()
        if kind == "input":
            seq = int(body["seq"])
            if seq <= session.seq_in:
                return  # a duplicate
            aad = stream_aad(self.name, session_id, "in", seq)
            data = stream_open(session.key, body, aad=aad)
            session.seq_in = seq
            if session.link is not None:
                session.link.send(data)
        elif kind == "ping":
            self.pool.submit(self._probe, session, int(body.get("n", 0)))
        elif kind == "close":
            self._close(session, "closed", "")

    def _open(self, session_id: str, body: dict[str, Any]) -> None:
        if session_id in self.sessions:
            return
        if time.time() > float(body.get("start_by", 0)):
            logger.warning("console %s arrived after its start-by time: not opened", session_id)
            return
        try:
            secret = crypto.unseal(self.keys, body["sealed"], aad=f"{self.name}:{session_id}")
            key = base64.b64decode(secret["key"])
        except (crypto.SealError, KeyError, TypeError, ValueError) as error:
            from apps.console.sol import GATEWAY_REFUSED

            self._state(session_id, "failed", f"{GATEWAY_REFUSED}: {error}")
            return
        session = _Session(session_id, key, float(body.get("keepalive", 60)))
        self.sessions[session_id] = session
        # the central side's BMC budget: a lost BMC is told before its ping gives up
        timeout = min(max(float(body.get("timeout", self.timeout)), 1.0), 60.0)
        self.pool.submit(self._connect, session, secret["endpoint"], timeout)

    def _connect(self, session: _Session, endpoint: dict[str, Any], timeout: float) -> None:
        from apps.console.sol import LinkError, SolLink
        from apps.hardware.drivers.base import BmcEndpoint

        link = SolLink(
            BmcEndpoint(**endpoint),
            on_data=lambda data: self._output(session, data),
            on_error=lambda text: self._lost(session, link, text),
            pool=self.pool,
            timeout=timeout,
        )
        try:
            link.open()
        except LinkError as error:
            self.pool.submit(link.close)
            self.sessions.pop(session.id, None)
            self._state(session.id, "failed", str(error))
            return
        if session.closed:
            self.pool.submit(link.close)
            return
        session.link = link
        self._state(session.id, "opened", "")

    def _probe(self, session: _Session, n: int) -> None:
        from apps.console.sol import LinkError

        link = session.link
        if link is None:
            return  # still opening: the open's answer comes first
        try:
            power = link.probe()
        except LinkError as error:
            self._lost(session, link, str(error))
            return
        self._send(session.id, "console_status", {"n": n, "power": power})

    def _lost(self, session: _Session, link: Any, text: str) -> None:
        if session.link is link:
            self._close(session, "lost", text)

    def _close(self, session: _Session, state: str, error: str) -> None:
        session.closed = True
        self.sessions.pop(session.id, None)
        link, session.link = session.link, None
        if link is not None:
            self.pool.submit(link.close)
        self._flush_later(session)  # what the BMC said last goes before the state
        self._state(session.id, state, error)

    def close_all(self) -> None:
        """Closes every session (the gateway stops): the BMCs' session slots are freed now
        rather than at their own idle timeout (the pool finishes the closes before exit)."""
        from apps.console.sol import GATEWAY_OFFLINE

        for session in list(self.sessions.values()):
            self._close(session, "closed", f"{GATEWAY_OFFLINE}: {self.name} stopped")

    def _sweep(self) -> None:
        """Closes sessions central stopped asking about (its broker died or lost its uplink),
        freeing the BMC's session slot."""
        while not self.stop.wait(1.0):
            now = time.monotonic()
            for session in list(self.sessions.values()):
                if now - session.seen > session.keepalive:
                    logger.info("console %s: nothing from central, closed", session.id)
                    self._close(session, "closed", "nothing heard from the central side")

    # -- to central ------------------------------------------------------------------------

    def _output(self, session: _Session, data: bytes) -> None:
        with session.lock:
            session.buffer += data
        self._flush_later(session)

    def _flush_later(self, session: _Session) -> None:
        with session.lock:
            if session.dirty or not session.buffer:
                return
            session.dirty = True
        self.outbox.put(("flush", session))

    def _state(self, session_id: str, state: str, error: str) -> None:
        self._send(session_id, "console_state", {"state": state, "error": error[:500]})

    def _send(self, session_id: str, kind: str, payload: dict[str, Any]) -> None:
        self.outbox.put(("send", (session_id, kind, payload)))

    def _batches(self, session: _Session) -> list[tuple[str, str, dict[str, Any]]]:
        """The session's pending output as numbered, sealed batches (the buffer is emptied)."""
        with session.lock:
            data = bytes(session.buffer)
            session.buffer.clear()
            session.dirty = False
        found = []
        for start in range(0, len(data), MAX_BATCH):
            session.seq_out += 1
            aad = stream_aad(self.name, session.id, "out", session.seq_out)
            box = stream_seal(session.key, data[start : start + MAX_BATCH], aad=aad)
            found.append((session.id, "console_output", {"seq": session.seq_out, **box}))
        return found

    def _send_loop(self) -> None:
        publish: Callable[[str, str, dict[str, Any]], None] | None = None
        conn: Connection | None = None
        while not self.stop.is_set():
            try:
                what, item = self.outbox.get(timeout=1)
            except queue.Empty:
                continue
            messages = self._batches(item) if what == "flush" else [item]
            for session_id, kind, payload in messages:
                for attempt in (1, 2):  # a connection gone stale is replaced once
                    try:
                        if publish is None:
                            # no AMQP heartbeat: this connection is written to, never drained
                            conn = Connection(
                                self.broker_url, ssl=self.ssl, connect_timeout=10, heartbeat=0
                            )
                            producer = Producer(
                                conn.channel(),
                                exchange=Exchange(wire.RESULTS_EXCHANGE, "direct"),
                                auto_declare=False,
                            )
                            publish = self._publisher(producer)
                        publish(session_id, kind, payload)
                        break
                    except Exception as error:
                        publish = None
                        if conn is not None:
                            conn.release()
                        if attempt == 2:  # the uplink: central notices (its pings go unanswered)
                            logger.warning("console message not sent: %s", error)

    def _publisher(self, producer: Producer) -> Callable[[str, str, dict[str, Any]], None]:
        def publish(session_id: str, kind: str, payload: dict[str, Any]) -> None:
            document = wire.envelope(
                gateway=self.name,
                kind=kind,
                call_id=session_id,
                payload=payload,
                version=self.version,
            )
            producer.publish(
                {"document": document, "signature": crypto.sign(self.keys, document)},
                routing_key=wire.CONSOLE_RESULTS_QUEUE,
                serializer="json",
                delivery_mode=1,  # transient: a console byte is worth nothing minutes later
            )

        return publish


def consoles_start(gateway: Any) -> GatewayConsoles:
    """The consoles of a running `apps.gateways.agent.Gateway` (its broker, TLS, keys)."""
    from celery.signals import worker_shutdown

    from apps.gateways.agent import VERSION, _ssl_options

    config = gateway.config
    consoles = GatewayConsoles(
        name=config.name,
        broker_url=config.broker_url,
        ssl=_ssl_options(config.tls),
        keys=gateway.keys,
        timeout=config.bmc_timeout,
        version=VERSION,
    )
    consoles.start()
    worker_shutdown.connect(lambda **_: consoles.close_all(), weak=False)
    return consoles
