"""What DSP0266 asks of every answer, applied around `RedfishService` dispatch.

- Methods: an HTTP method the service does not implement at all is 501; one it implements but
  not on this URI stays a 405 with ``Allow`` (dispatch).
- ``OData-Version``: a request asking for another version than 4.0 is 412.
- Bodies: a request body sent as anything but ``application/json`` is 415 (the multipart
  firmware push excepted).
- ETags: every resource carries one (``ETag`` header and ``@odata.etag``), computed from its
  representation; a PATCH whose ``If-Match`` names another is 412 and changes nothing.
- ``Link: <schema>; rel=describedby`` names the JSON schema of the resource's ``@odata.type``;
  ``Allow`` the methods it takes, on GET as on a 405.
"""

from __future__ import annotations

import hashlib
import json

from apps.lab.redfish.http import Request, Response
from apps.lab.redfish.schema import RedfishError

METHODS = ("GET", "HEAD", "POST", "PATCH", "PUT", "DELETE")
SCHEMAS = "http://redfish.dmtf.org/schemas/v1"
JSON = "application/json"


def etag_of(body: dict) -> str:
    """A resource's ETag: its own ``@odata.etag`` when it keeps one, else a digest of it."""
    if isinstance(body.get("@odata.etag"), str):
        return body["@odata.etag"]
    return _digest_tag(serialise(body))


def serialise(body: dict) -> str:
    """The JSON a body is sent as (compact; the lab builds its resources' keys in one order, so
    the same representation always serialises alike)."""
    return json.dumps(body, separators=(",", ":"))


def _digest_tag(text: str) -> str:
    return f'W/"{hashlib.sha256(text.encode()).hexdigest()[:16]}"'


def described_by(odata_type: str) -> str:
    """``#ComputerSystem.v1_20_0.ComputerSystem`` -> that version's JSON schema (collections,
    which are unversioned, -> ``ComputerSystemCollection.json``)."""
    parts = odata_type.lstrip("#").split(".")
    name = ".".join(parts[:2]) if len(parts) == 3 else parts[0]
    return f"<{SCHEMAS}/{name}.json>; rel=describedby"


def check_request(request: Request, multipart_paths: tuple[str, ...] = ()) -> None:
    """501 for a method the service never implements, 412 for an OData version other than
    4.0, 415 for a body that is not JSON."""
    if request.method not in METHODS:
        raise RedfishError(
            501,
            "OperationNotAllowed",
            f"The HTTP method {request.method} is not implemented by this service.",
        )
    odata_version = request.headers.get("odata-version")
    if odata_version is not None and odata_version.strip() != "4.0":
        raise RedfishError(
            412,
            "HeaderInvalid",
            f"This service speaks OData 4.0, not {odata_version}.",
            f"OData-Version: {odata_version}",
        )
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    exempt = request.path.rstrip("/") in multipart_paths
    if request.body.strip() and media_type and media_type != JSON and not exempt:
        raise RedfishError(
            415,
            "HeaderInvalid",
            f"A request body must be sent as {JSON}, not {media_type}.",
            f"Content-Type: {content_type}",
        )


def check_if_match(request: Request, current: dict) -> None:
    """412 when ``If-Match`` names neither the resource's current ETag nor ``*``."""
    header = request.headers.get("if-match")
    if header is None:
        return
    offered = [tag.strip() for tag in header.split(",")]
    if "*" in offered or etag_of(current) in offered:
        return
    raise RedfishError(
        412,
        "PreconditionFailed",
        f"The resource changed since ETag {header} was read: read it again and resubmit.",
    )


def decorate(response: Response, allow: str) -> Response:
    """A resource in a 200 answer gets its ``@odata.etag``, and ``ETag``, ``Link`` and
    ``Allow`` (the methods it takes) headers."""
    body = response.body
    if response.status != 200 or not isinstance(body, dict) or "@odata.id" not in body:
        return response
    tag = body.get("@odata.etag")
    if not isinstance(tag, str):
        # serialised once: the digest of the text is the ETag, and the text (with the ETag
        # added last, where it goes in the body) is what is sent
        text = serialise(body)
        tag = body["@odata.etag"] = _digest_tag(text)
        response.payload = f'{text[:-1]},"@odata.etag":{json.dumps(tag)}}}'.encode()
    response.headers.setdefault("ETag", tag)
    response.headers.setdefault("Allow", allow)
    if isinstance(body.get("@odata.type"), str):
        response.headers.setdefault("Link", described_by(body["@odata.type"]))
    return response
