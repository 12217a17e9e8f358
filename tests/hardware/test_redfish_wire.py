"""The readings' hand-written GET (`wire`): what it takes as a complete 200, and what it leaves
to sushy (None: the caller asks again through the full client)."""

import pytest

from apps.hardware.drivers.redfish import wire


class Socket:
    """Answers ``recv`` with the given pieces, then end of stream."""

    def __init__(self, *pieces: bytes):
        self.pieces = list(pieces)

    def recv(self, size: int) -> bytes:
        return self.pieces.pop(0)[:size] if self.pieces else b""


def answer(status="200 OK", body=b'{"PowerState": "On"}', **headers) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_a_200_is_read_to_its_content_length_over_several_recv_calls():
    whole = answer(Content_Length=20, OData_Version="4.0")
    sock = Socket(whole[:7], whole[7:60], whole[60:])
    assert wire._read_200(sock) == (b'{"PowerState": "On"}', True)


def test_a_200_asking_to_close_is_taken_but_the_connection_is_not_kept():
    assert wire._read_200(Socket(answer(Content_Length=20, Connection="close"))) == (
        b'{"PowerState": "On"}',
        False,
    )


@pytest.mark.parametrize(
    "raw",
    [
        answer("401 Unauthorized", b"{}", Content_Length=2),  # sushy logs in again
        answer("503 Service Unavailable", b"{}", Content_Length=2),  # sushy retries once
        answer(Transfer_Encoding="chunked", body=b"14\r\n" + b"x" * 20 + b"\r\n0\r\n\r\n"),
        answer(),  # no Content-Length: the body ends with the connection
        answer(Content_Length=40),  # the connection closed before the whole body came
        answer(Content_Length=5),  # more bytes than announced: out of step
        answer(Content_Length="2x"),
        b"",  # a kept-alive connection the BMC had closed
    ],
)
def test_anything_but_a_complete_200_is_left_to_sushy_and_the_connection_dropped(raw):
    assert wire._read_200(Socket(raw)) == (None, False)


def test_the_request_is_one_get_with_the_host_and_every_header():
    sent = wire.request_bytes("/redfish/v1/Systems/1", "10.0.0.5:443", {"X-Auth-Token": "t"})
    assert (
        sent
        == b"GET /redfish/v1/Systems/1 HTTP/1.1\r\nHost: 10.0.0.5:443\r\nX-Auth-Token: t\r\n\r\n"
    )
