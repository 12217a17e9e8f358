"""One GET on a pinned, kept-alive connection of a urllib3 pool, written and read by hand.

The readings' hot path (`transport.Client.get_json`): a sweep sends three small GETs per BMC,
and urllib3/http.client spend more CPU on each (header objects, ``email`` header parsing, a
buffered reader, a ``poll()`` to see whether the kept-alive connection was dropped) than the
TLS record itself. Here the request is one ``sendall`` of bytes built once per client, the
answer is read with as few ``recv`` calls as it arrives in, and only what decides the path is
parsed: the status, ``Content-Length``, ``Transfer-Encoding`` and ``Connection``.

Everything else stays urllib3's: the connection comes from and goes back to the same pool
(``PinnedAdapter``'s), a new connection is opened by urllib3 (the fingerprint is checked right
after the handshake, as for every other request), timeouts are the same (connect, then read per
``recv``). A connection idle for more than `IDLE_CHECK` seconds is checked for a drop first, as
urllib3 does before every reuse (a BMC closes idle connections; one polled again within a
second has not). Anything but a complete ``200`` with a ``Content-Length`` body returns
``None`` after closing the connection: the caller asks again through sushy (re-login on 401,
retry on 5xx, error bodies), exactly as before.
"""

from __future__ import annotations

import queue
import time

IDLE_CHECK = 1.0  # seconds a kept-alive connection may idle before its drop check
MAX_HEAD = 64 * 1024


def request_bytes(path: str, host: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def get(pool, request: bytes, connect_timeout: float, read_timeout: float) -> bytes | None:
    """The body of a 200 answer to ``request``, or None (connection closed: ask otherwise).

    Raises what urllib3 raises when connecting (its ``HTTPError`` subclasses, the fingerprint
    mismatch among them) and ``OSError`` (timeouts included) when sending or reading."""
    conn = _take(pool)
    body, keep = None, False
    try:
        if conn.sock is None:
            conn.timeout = connect_timeout
            conn.connect()
        sock = conn.sock
        sock.settimeout(read_timeout)
        sock.sendall(request)
        body, keep = _read_200(sock)
    finally:
        if keep:
            conn.heatsite_used = time.monotonic()
        else:
            conn.close()  # an answer half read, not taken, or the BMC closes: never reused
        pool._put_conn(conn)
    return body


def _take(pool):
    """The pool's next connection, checked for a drop only after `IDLE_CHECK` idle seconds."""
    if pool.pool is None or _needs_check(pool):
        return pool._get_conn()
    try:
        conn = pool.pool.get(block=False)
    except queue.Empty:
        conn = None
    return conn or pool._new_conn()


def _needs_check(pool) -> bool:
    """Is the connection next in ``pool`` idle long enough to check it for a drop?"""
    waiting = pool.pool.queue  # LifoQueue: the last one put back is taken first
    conn = waiting[-1] if waiting else None
    if conn is None or conn.sock is None:
        return False  # a new connection will be opened
    return time.monotonic() - getattr(conn, "heatsite_used", 0.0) > IDLE_CHECK


def _read_200(sock) -> tuple[bytes | None, bool]:
    """(the body of a complete 200 or None, may the connection be reused)."""
    buffer = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return None, False
        buffer += chunk
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(buffer) > MAX_HEAD:
            return None, False
    head = buffer[:end].decode("latin-1").split("\r\n")
    status = head[0].split(" ", 2)
    if len(status) < 2 or status[1] != "200" or not status[0].startswith("HTTP/1."):
        return None, False
    length = None
    keep = status[0] == "HTTP/1.1"
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            value = value.strip()
            if not value.isdigit():
                return None, False
            length = int(value)
        elif name == "transfer-encoding":
            return None, False  # chunked: sushy reads it
        elif name == "connection":
            keep = "close" not in value.lower() and (keep or "keep-alive" in value.lower())
    if length is None:
        return None, False  # a body delimited by the close: sushy reads it on its own connection
    body = buffer[end + 4 :]
    while len(body) < length:
        chunk = sock.recv(max(length - len(body), 16384))
        if not chunk:
            return None, False
        body += chunk
    if len(body) != length:
        return None, False  # more than announced: the connection is out of step
    return body, keep
