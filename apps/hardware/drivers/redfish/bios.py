"""BIOS settings over Redfish: current attributes, the attribute registry, pending settings.

The current attributes are ``Systems/{id}/Bios``; changes go to its ``@Redfish.Settings``
``SettingsObject`` (the pending settings, applied by the BIOS at the next reset), with
``If-Match`` when the settings object has an ETag. Before anything is sent, each change is
checked against the BMC's ``AttributeRegistry`` (found through ``/redfish/v1/Registries``): an
unknown attribute, a read-only one, a value of the wrong type, outside the allowed values, the
bounds or the pattern is a ``bad_request`` that names the attribute. An attribute the registry
does not describe (or a BMC without a registry) is checked against the current value's type.
"""

from __future__ import annotations

import re
from typing import Any

from sushy import exceptions as sushy_exc

from apps.hardware.drivers.base import BiosAttribute, BiosSettings, BiosValue, BmcError
from apps.hardware.drivers.redfish import readings
from apps.hardware.drivers.redfish.logs import parse_time
from apps.hardware.drivers.redfish.readings import get_optional, link, member_paths, root
from apps.hardware.drivers.redfish.transport import Client

APPLY_TIME = "OnReset"
MAX_CHANGES = 256


def _bios_path(client: Client) -> str:
    path = link(readings.system(client), "Bios")
    if not path:
        raise BmcError("not_supported", "The BMC offers no BIOS settings (no Bios resource).")
    return path


def _get_with_etag(client: Client, path: str) -> tuple[dict[str, Any], str]:
    response = client.connector.get(path)
    body = response.json()
    if not isinstance(body, dict):
        raise BmcError("protocol", f"{path} is not a JSON object.")
    etag = response.headers.get("ETag") or body.get("@odata.etag") or ""
    return body, str(etag)


def registry(client: Client, registry_id: str) -> dict[str, dict[str, Any]]:
    """The attribute registry ``registry_id`` as AttributeName → entry; {} when the BMC does
    not serve it (names then stay unknown). Kept like the other structure (`readings.structure`)."""
    if not registry_id:
        return {}

    def build() -> dict[str, dict[str, Any]]:
        files = member_paths(get_optional(client, link(root(client), "Registries")))
        # the file named like the registry first: a BMC lists dozens of message registries
        files.sort(key=lambda path: registry_id.split(".")[0] not in path)
        for path in files:
            try:
                entry = get_optional(client, path) or {}
            except sushy_exc.HTTPError:
                continue
            if registry_id not in (entry.get("Registry"), entry.get("Id")):
                continue
            for uri in _locations(entry):
                try:
                    body = get_optional(client, uri) or {}
                except sushy_exc.HTTPError:
                    continue
                attributes = (body.get("RegistryEntries") or {}).get("Attributes") or []
                return {
                    str(item["AttributeName"]): item
                    for item in attributes
                    if isinstance(item, dict) and item.get("AttributeName")
                }
        return {}

    return readings.structure(client, ("bios_registry", registry_id), build)


def _locations(registry_file: dict[str, Any]) -> list[str]:
    """The file's local registry URIs, English (or default) first; published copies on the
    Internet are never fetched (a BMC network has no route there, and it is not the BMC)."""
    found = []
    for location in registry_file.get("Location") or []:
        uri = location.get("Uri") if isinstance(location, dict) else None
        if not isinstance(uri, str) or not uri.startswith("/"):
            continue
        language = str(location.get("Language") or "").lower()
        rank = 0 if language.split("-")[0] == "en" else 1 if language == "default" else 2
        found.append((rank, uri))
    return [uri for _, uri in sorted(found)]


def _attribute(name: str, value: BiosValue, entry: dict[str, Any] | None) -> BiosAttribute:
    entry = entry or {}
    allowed = tuple(
        str(v["ValueName"])
        for v in entry.get("Value") or []
        if isinstance(v, dict) and v.get("ValueName") is not None
    )
    return BiosAttribute(
        name=name,
        value=value,
        display_name=str(entry.get("DisplayName") or "").strip(),
        type=str(entry.get("Type") or ""),
        read_only=bool(entry.get("ReadOnly") or entry.get("Immutable")),
        allowed=allowed,
        lower=_whole(entry.get("LowerBound")),
        upper=_whole(entry.get("UpperBound")),
        min_length=_whole(entry.get("MinLength")),
        max_length=_whole(entry.get("MaxLength")),
    )


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _attributes(body: dict[str, Any], path: str) -> dict[str, Any]:
    attributes = body.get("Attributes")
    if not isinstance(attributes, dict):
        raise BmcError("protocol", f"{path} has no Attributes object.")
    return attributes


def read(client: Client) -> BiosSettings:
    path = _bios_path(client)
    body = readings.get(client, path)
    current = _attributes(body, path)
    registry_id = str(body.get("AttributeRegistry") or "")
    entries = registry(client, registry_id)
    settings = body.get("@Redfish.Settings") or {}
    pending_body = get_optional(client, link(settings, "SettingsObject")) or {}
    staged = pending_body.get("Attributes")
    staged = staged if isinstance(staged, dict) else {}
    pending = {
        name: value
        for name, value in staged.items()
        if name not in current or current[name] != value
    }
    times = settings.get("SupportedApplyTimes")
    return BiosSettings(
        attributes=tuple(
            _attribute(name, value, entries.get(name)) for name, value in current.items()
        ),
        pending=pending,
        registry=registry_id,
        apply_times=tuple(str(t) for t in times) if isinstance(times, list) else (),
        applied_at=parse_time(settings.get("Time")),
    )


def apply(client: Client, changes: dict[str, BiosValue]) -> None:
    """Validate ``changes`` and PATCH them into the settings object (applied on reset)."""
    if not isinstance(changes, dict) or not changes:
        raise BmcError("bad_request", "Name at least one BIOS attribute to change.")
    if len(changes) > MAX_CHANGES:
        raise BmcError("bad_request", f"At most {MAX_CHANGES} BIOS attributes at once.")
    path = _bios_path(client)
    body = readings.get(client, path)
    current = _attributes(body, path)
    entries = registry(client, str(body.get("AttributeRegistry") or ""))
    for name, value in changes.items():
        check(name, value, entries.get(name) if isinstance(name, str) else None, current)
    settings = body.get("@Redfish.Settings") or {}
    times = settings.get("SupportedApplyTimes")
    if isinstance(times, list) and times and APPLY_TIME not in times:
        raise BmcError(
            "not_supported",
            f"The BMC applies BIOS settings only {', '.join(map(str, times))}; "
            "Heatsite stages them for the next reset.",
        )
    target = link(settings, "SettingsObject") or path
    target_body, etag = _get_with_etag(client, target)
    data: dict[str, Any] = {"Attributes": dict(changes)}
    preferred = target_body.get("@Redfish.SettingsApplyTime")
    if isinstance(preferred, dict):  # the BMC takes an apply time with the request
        allowed = preferred.get("ApplyTime@Redfish.AllowableValues")
        if not isinstance(allowed, list) or APPLY_TIME in allowed:
            data["@Redfish.SettingsApplyTime"] = {"ApplyTime": APPLY_TIME}
    # If-Match as a plain header: sushy's etag= would retry without it on 412
    client.connector.patch(target, data=data, headers={"If-Match": etag} if etag else None)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Integer"
    if isinstance(value, str):
        return "String"
    return "null" if value is None else "other"


def check(name: Any, value: Any, entry: dict[str, Any] | None, current: dict[str, Any]) -> None:
    """Raise ``bad_request`` when ``name = value`` cannot be staged (see module docstring)."""
    if not isinstance(name, str) or not name:
        raise BmcError("bad_request", "BIOS attribute names are non-empty strings.")
    if _kind(value) == "other":
        raise BmcError("bad_request", f"BIOS attribute {name}: a value is text, number or bool.")
    if entry is None:
        if name not in current:
            raise BmcError("bad_request", f"The BIOS has no attribute {name!r}.")
        expected = _kind(current[name])
        if expected != "null" and _kind(value) != expected:
            words = {"Boolean": "true or false", "Integer": "a number", "String": "text"}
            raise BmcError("bad_request", f"BIOS attribute {name} takes {words[expected]}.")
        return
    label = f"BIOS attribute {str(entry.get('DisplayName') or '').strip() or name} ({name})"
    if entry.get("ReadOnly") or entry.get("Immutable"):
        raise BmcError("bad_request", f"{label} is read-only.")
    kind = str(entry.get("Type") or "")
    secret = kind == "Password"
    shown = "the value" if secret else repr(value)
    if kind == "Enumeration":
        allowed = [str(v.get("ValueName")) for v in entry.get("Value") or [] if isinstance(v, dict)]
        if value not in allowed:
            raise BmcError("bad_request", f"{label}: {shown} is not one of {', '.join(allowed)}.")
    elif kind == "Boolean":
        if not isinstance(value, bool):
            raise BmcError("bad_request", f"{label} takes true or false.")
    elif kind == "Integer":
        if _kind(value) != "Integer" or (isinstance(value, float) and not value.is_integer()):
            raise BmcError("bad_request", f"{label} takes a whole number.")
        low, high = entry.get("LowerBound"), entry.get("UpperBound")
        if (isinstance(low, int) and value < low) or (isinstance(high, int) and value > high):
            raise BmcError("bad_request", f"{label}: {shown} is outside {low}…{high}.")
        step = entry.get("ScalarIncrement")
        if isinstance(step, int) and step > 0 and (value - (low or 0)) % step:
            raise BmcError("bad_request", f"{label}: {shown} is not a multiple of {step}.")
    elif kind in ("String", "Password"):
        if not isinstance(value, str):
            raise BmcError("bad_request", f"{label} takes text.")
        low, high = entry.get("MinLength"), entry.get("MaxLength")
        if (isinstance(low, int) and len(value) < low) or (
            isinstance(high, int) and len(value) > high
        ):
            raise BmcError("bad_request", f"{label}: {low}…{high} characters.")
        pattern = entry.get("ValueExpression")
        if isinstance(pattern, str) and pattern:
            try:
                matches = re.fullmatch(pattern, value) is not None
            except re.error:
                matches = True  # a pattern Python cannot read: the BMC will judge
            if not matches:
                raise BmcError("bad_request", f"{label}: {shown} does not match {pattern}.")
