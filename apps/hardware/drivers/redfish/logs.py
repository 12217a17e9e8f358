"""BMC logs over Redfish: the entries of the manager's and the system's ``LogServices``.

Every log service (SEL, event log, …) of the first manager and the first system is read, its
``Entries`` bounded (pages followed through ``Members@odata.nextLink``, at most `MAX_PAGES`):
inline (expanded) members are used as they are; otherwise at most ``limit``
member links per service are read, the highest record numbers first when the ids are numbers
(SEL record ids grow), else the last ones listed. The entries of all services are merged,
newest first, and cut to ``limit``. Chassis-intrusion events are marked (``intrusion``): IPMI's
sensor type "Physical Chassis Security", or an intrusion message id or text.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from apps.hardware.drivers.base import BmcError, LogEntry
from apps.hardware.drivers.redfish import readings
from apps.hardware.drivers.redfish.readings import get_optional, link
from apps.hardware.drivers.redfish.transport import Client

MAX_LIMIT = 1000
MAX_SERVICES = 8
MAX_PAGES = 16  # of one log's entry collection
MAX_LISTED = 4096  # member links (or inline entries) taken from one log
SEVERITY = {"OK": "ok", "Warning": "warning", "Critical": "critical"}
DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", re.I)
INTRUSION_SENSOR_TYPES = {"physical chassis security", "chassisintrusion", "chassis intrusion"}


def parse_time(value: Any) -> datetime.datetime | None:
    """A Redfish (RFC 3339) date-time as aware UTC; None when absent, malformed or without an
    offset (a time without a zone is not a known moment)."""
    if not isinstance(value, str) or not DATE_TIME.fullmatch(value):
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(datetime.UTC)


def _service_paths(client: Client) -> list[str]:
    owners = [readings.manager(client)]
    try:
        owners.append(readings.system(client))
    except BmcError as error:
        if error.cause != "not_supported":
            raise
    found: list[str] = []
    for owner in owners:
        for service in readings.members(client, link(owner, "LogServices"), cached=True):
            entries = link(service, "Entries")
            if entries and entries not in found:
                found.append(entries)
    return found[:MAX_SERVICES]


def _numeric_tail(path: str) -> int | None:
    tail = path.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _listed(client: Client, path: str) -> list[dict[str, Any]]:
    """The collection's members over its pages (``Members@odata.nextLink``), bounded."""
    items: list[dict[str, Any]] = []
    page: str | None = path
    seen: set[str] = set()
    while page and page not in seen and len(seen) < MAX_PAGES and len(items) < MAX_LISTED:
        seen.add(page)
        collection = get_optional(client, page) or {}
        items.extend(item for item in collection.get("Members") or [] if isinstance(item, dict))
        following = collection.get("Members@odata.nextLink")
        page = following if isinstance(following, str) and following.startswith("/") else None
    return items[:MAX_LISTED]


def _entry_bodies(client: Client, path: str, limit: int) -> list[dict[str, Any]]:
    items = _listed(client, path)
    inline = [item for item in items if len(item) > 1]
    if inline:
        return inline
    links = [item["@odata.id"] for item in items if isinstance(item.get("@odata.id"), str)]
    numbers = [_numeric_tail(p) for p in links]
    if links and all(n is not None for n in numbers):
        links = [p for _, p in sorted(zip(numbers, links, strict=True), reverse=True)][:limit]
    else:
        links = links[-limit:]
    return [body for p in links if (body := get_optional(client, p)) is not None]


def _entry(body: dict[str, Any], log: str) -> LogEntry:
    message = str(body.get("Message") or "").strip()
    message_id = str(body.get("MessageId") or "")
    sensor_type = str(body.get("SensorType") or "")
    severity = body.get("MessageSeverity") or body.get("Severity")
    intrusion = (
        sensor_type.lower() in INTRUSION_SENSOR_TYPES
        or "intrusion" in message_id.lower()
        or "intrusion" in message.lower()
    )
    return LogEntry(
        id=str(body.get("Id") or ""),
        created=parse_time(body.get("Created")),
        severity=SEVERITY.get(str(severity), "unknown"),  # type: ignore[arg-type]
        message=message,
        message_id=message_id,
        sensor_type=sensor_type,
        entry_type=str(body.get("EntryType") or ""),
        log=log,
        intrusion=intrusion,
    )


def _order(entry: LogEntry) -> tuple:
    created = entry.created.timestamp() if entry.created else float("-inf")
    number = int(entry.id) if entry.id.isdigit() else -1
    return (created, number)


def entries(client: Client, limit: int) -> list[LogEntry]:
    found: list[LogEntry] = []
    for path in _service_paths(client):
        log = path.removesuffix("/Entries")
        found.extend(_entry(body, log) for body in _entry_bodies(client, path, limit))
    found.sort(key=_order, reverse=True)
    return found[:limit]


def check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BmcError("bad_request", f"A log limit is a whole number from 1 to {MAX_LIMIT}.")
    return limit
