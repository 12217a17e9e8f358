"""A small HTTP/1.1 server on asyncio streams: keep-alive, Content-Length bodies, TLS.

Only what a Redfish client sends: a request line, headers, an optional body with
``Content-Length`` (chunked bodies are refused with 411). One coroutine per connection serves
requests in order until the client closes, asks ``Connection: close``, or stays idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import ssl
from collections.abc import Callable
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
MAX_BODY = 8 * 1024 * 1024 + 64 * 1024  # a firmware image and its multipart framing
IDLE_TIMEOUT = 120.0
INTERNAL_ERROR = {
    "error": {
        "code": "Base.1.16.GeneralError",
        "message": "A general error has occurred. See ExtendedInfo for more information.",
        "@Message.ExtendedInfo": [
            {
                "@odata.type": "#Message.v1_1_2.Message",
                "MessageId": "Base.1.16.InternalError",
                "Message": "The request failed due to an internal service error.  The service is "
                "still operational.",
                "MessageArgs": [],
                "Severity": "Critical",
                "MessageSeverity": "Critical",
                "Resolution": "Resubmit the request.  If the problem persists, consider resetting "
                "the service.",
            }
        ],
    }
}
REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


@dataclasses.dataclass
class Response:
    status: int = 200
    body: dict | str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"
    payload: bytes | None = None  # ``body`` already serialised (`protocol.decorate`)

    def encode(self, keep_alive: bool, head_only: bool = False) -> bytes:
        if self.payload is not None:
            payload = self.payload
        elif self.body is None:
            payload = b""
        elif isinstance(self.body, str):
            payload = self.body.encode()
        else:
            payload = json.dumps(self.body, separators=(",", ":")).encode()
        lines = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Unknown')}"]
        headers = {"OData-Version": "4.0", "Cache-Control": "no-store", **self.headers}
        if payload or self.status not in (204,):
            headers["Content-Type"] = self.content_type
        if self.status != 204:
            headers["Content-Length"] = str(len(payload))
        headers["Connection"] = "keep-alive" if keep_alive else "close"
        lines += [f"{name}: {value}" for name, value in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only or self.status == 204 else head + payload


class BadRequest(Exception):
    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status = status


def parse_head(head: bytes) -> tuple[Request, bool]:
    """Parse the request line and headers; returns (request without body, keep-alive)."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # latin-1 decodes every byte; kept for clarity
        raise BadRequest(400, "undecodable request") from exc
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, "malformed header line")
        headers[name.lower()] = value.strip()
    split = urlsplit(target)
    if not split.path.startswith("/"):
        raise BadRequest(400, "request target must be a path")
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    request = Request(
        method.upper(), unquote(split.path), parse_qs(split.query, keep_blank_values=True), headers
    )
    return request, keep_alive


Handler = Callable[[Request], Response]


async def serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handler: Handler,
    gate: Callable[[], float | None] = lambda: 0.0,
) -> None:
    """Serve one client connection until it closes (or misbehaves).

    ``gate()`` is asked before each answer: seconds to wait first, or None to never answer
    (the BMC's "unreachable" fault: the request is swallowed, the client times out).
    """
    try:
        while True:
            try:
                async with asyncio.timeout(IDLE_TIMEOUT):  # no task per request (wait_for's)
                    head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, TimeoutError):
                return
            except asyncio.LimitOverrunError:
                writer.write(_plain(431, "headers too large"))
                return
            try:
                request, keep_alive = parse_head(head[:-4])
                if "chunked" in request.headers.get("transfer-encoding", "").lower():
                    raise BadRequest(411, "send a Content-Length, not a chunked body")
                length_text = request.headers.get("content-length", "0") or "0"
                if not length_text.isdigit():
                    raise BadRequest(400, "bad Content-Length")
                length = int(length_text)
                if length > MAX_BODY:
                    raise BadRequest(413, "body too large")
            except BadRequest as exc:
                writer.write(_plain(exc.status, str(exc)))
                return
            if length:
                request.body = await reader.readexactly(length)
            delay = gate()
            if delay is None:
                await reader.read()  # swallow everything until the client gives up
                return
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                response = handler(request)
            except Exception:  # one broken handler must not take the lab down
                log.exception("lab Redfish handler failed: %s %s", request.method, request.path)
                response = Response(500, INTERNAL_ERROR)
            writer.write(response.encode(keep_alive, head_only=request.method == "HEAD"))
            await writer.drain()
            if not keep_alive:
                return
    except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, OSError):
        return
    except asyncio.CancelledError:  # the lab is stopping
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _plain(status: int, text: str) -> bytes:
    return Response(status, text, content_type="text/plain; charset=utf-8").encode(False)
