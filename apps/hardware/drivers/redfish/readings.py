"""Reading Redfish resources as plain JSON into the port's dataclasses.

A BMC's gaps make a feature unavailable, never the whole reading: a collection member that
answers 404 is skipped, a chassis without sensors contributes none. Where a property is absent
the value stays unknown (None / empty string), never zero.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from sushy import exceptions as sushy_exc

from apps.hardware.drivers.base import (
    BmcError,
    FirmwareComponent,
    FirmwareVersion,
    FruInventory,
    SensorReading,
)
from apps.hardware.drivers.redfish.transport import ROOT, Client

T = TypeVar("T")

MAX_MEMBERS = 64  # a bound on any collection walked (sensors, firmware, NICs)
STRUCTURE_TTL = 300.0  # seconds a client trusts the links and memberships it has read
HEALTH = {"OK": "ok", "Warning": "warning", "Critical": "critical"}
READING_KIND = {
    "Temperature": ("temperature", "°C"),
    "Rotational": ("fan", "RPM"),
    "Voltage": ("voltage", "V"),
    "Power": ("power", "W"),
}
ON_STATES = {"On": "on", "PoweringOff": "on", "Paused": "on", "Off": "off", "PoweringOn": "off"}


# --- plumbing ------------------------------------------------------------------------------


def get(client: Client, path: str) -> dict[str, Any]:
    body = client.get_json(path)
    if not isinstance(body, dict):
        raise BmcError("protocol", f"{path} is not a JSON object.")
    return body


def get_optional(client: Client, path: str | None) -> dict[str, Any] | None:
    """The resource, or None when the BMC does not have it (404, 405, 501)."""
    if not path:
        return None
    try:
        return get(client, path)
    except sushy_exc.HTTPError as exc:
        if exc.status_code in (404, 405, 501):
            return None
        raise


def link(resource: dict[str, Any] | None, *names: str) -> str | None:
    """``resource[names…]["@odata.id"]`` or None."""
    value: Any = resource
    for name in names:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    if isinstance(value, dict) and isinstance(value.get("@odata.id"), str):
        return value["@odata.id"]
    return None


def member_paths(collection: dict[str, Any] | None) -> list[str]:
    members = (collection or {}).get("Members") or []
    return [m["@odata.id"] for m in members if isinstance(m, dict) and "@odata.id" in m][
        :MAX_MEMBERS
    ]


def structure(client: Client, key: Any, build: Callable[[], T]) -> T:
    """``build()``, kept for `STRUCTURE_TTL` seconds: links and collection memberships change
    with hardware, not between two polls, so a sweep re-reads only the readings."""
    now = time.monotonic()
    cached = client.cache.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    value = build()
    client.cache[key] = (now + STRUCTURE_TTL, value)
    return value


def expand_query(client: Client) -> str | None:
    """The ``$expand`` value that inlines one level of collection members, if the service root
    advertises one (``ProtocolFeaturesSupported.ExpandQuery``); else None."""
    if "expand" not in client.cache:
        features = (root(client).get("ProtocolFeaturesSupported") or {}).get("ExpandQuery") or {}
        query = "." if features.get("NoLinks") else "*" if features.get("ExpandAll") else None
        if query and features.get("Levels"):
            query += "($levels=1)"
        client.cache["expand"] = query
    return client.cache["expand"]


def _expanded(client: Client, path: str) -> list[dict[str, Any]] | None:
    """The members of ``path`` read in one request with ``$expand``; None when the BMC does not
    expand (then it is not asked again) or left a member unexpanded."""
    query = expand_query(client)
    if not query:
        return None
    try:
        body = get_optional(client, f"{path}?$expand={query}")
    except sushy_exc.HTTPError as exc:
        if exc.status_code not in (400, 501):
            raise
        body = None
    items = (body or {}).get("Members") if body is not None else None
    if not isinstance(items, list):
        client.cache["expand"] = None  # advertised but refused: read member by member
        return None
    items = items[:MAX_MEMBERS]
    if not all(isinstance(i, dict) and len(i) > 1 and "@odata.id" in i for i in items):
        return None
    return items


def members(client: Client, path: str | None, *, cached: bool = False) -> list[dict[str, Any]]:
    """Every member of the collection at ``path`` that exists (inline members are used as is);
    ``cached`` (for readings): one ``$expand``-ed request where the BMC offers it, else the
    membership comes from `structure` and the members are read afresh."""

    def listed() -> list[Any]:
        return list(((get_optional(client, path) or {}).get("Members") or [])[:MAX_MEMBERS])

    if cached and path:
        expanded = _expanded(client, path)
        if expanded is not None:
            return expanded
    items = structure(client, ("members", path), listed) if cached and path else listed()
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if len(item) > 1 and "@odata.id" in item:  # $expand-ed or inline
            found.append(item)
            continue
        body = get_optional(client, item.get("@odata.id"))
        if body is not None:
            found.append(body)
    return found


def root(client: Client) -> dict[str, Any]:
    if "root" not in client.cache:
        client.cache["root"] = get(client, ROOT)
    return client.cache["root"]


def _discover(client: Client, name: str, collection: str) -> list[str]:
    if name not in client.cache:
        client.cache[name] = member_paths(get_optional(client, link(root(client), collection)))
    return client.cache[name]


def system(client: Client) -> dict[str, Any]:
    """The (first) computer system; a BMC manages one node."""
    paths = _discover(client, "systems", "Systems")
    if not paths:
        raise BmcError("not_supported", "The BMC lists no computer system.")
    return get(client, paths[0])


def chassis_list(client: Client) -> list[dict[str, Any]]:
    """The system's chassis first, then the others the BMC lists (those that exist)."""
    paths = list(_discover(client, "chassis", "Chassis"))
    found = []
    for path in paths:
        body = get_optional(client, path)
        if body is not None:
            found.append(body)
    return found


def chassis_links(client: Client) -> list[dict[str, Any]]:
    """Per chassis, its name and the links the readings come from (cached, see `structure`)."""

    def build() -> list[dict[str, Any]]:
        found = []
        for body in chassis_list(client):
            entry: dict[str, Any] = {
                "name": str(body.get("Name") or body.get("Id") or "Chassis"),
                **{key: link(body, key) for key in ("Sensors", "EnvironmentMetrics", "Thermal")},
                "Power": link(body, "Power"),
            }
            subsystem = get_optional(client, link(body, "ThermalSubsystem"))
            entry["CoolantConnectors"] = link(subsystem, "CoolantConnectors")
            entry["Pumps"] = link(subsystem, "Pumps")
            found.append(entry)
        return found

    return structure(client, "chassis_links", build)


def manager(client: Client) -> dict[str, Any] | None:
    paths = _discover(client, "managers", "Managers")
    return get_optional(client, paths[0]) if paths else None


def power_state(system_body: dict[str, Any]) -> str:
    value = system_body.get("PowerState")
    if value not in ON_STATES:
        raise BmcError("protocol", f"The BMC reports the power state {value!r}.")
    return ON_STATES[value]


def reset_action(client: Client, system_body: dict[str, Any]) -> tuple[str, list[str] | None]:
    """The reset action's target and the reset types the BMC allows (None: it does not say)."""
    action = ((system_body.get("Actions") or {}).get("#ComputerSystem.Reset")) or {}
    target = action.get("target")
    if not target:
        raise BmcError("not_supported", "The BMC offers no ComputerSystem.Reset action.")
    allowed = action.get("ResetType@Redfish.AllowableValues")
    if allowed is None and action.get("@Redfish.ActionInfo"):
        info = get_optional(client, action["@Redfish.ActionInfo"]) or {}
        for parameter in info.get("Parameters") or []:
            if parameter.get("Name") == "ResetType":
                allowed = parameter.get("AllowableValues")
    return target, (list(allowed) if isinstance(allowed, list) else None)


# --- sensors -------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(float(value), 3)


def _health(body: dict[str, Any], value: float | None) -> str:
    """The BMC's ``Status.Health``; without one, the sensor's ``Thresholds``; else unknown."""
    if value is None:
        return "unknown"
    status = body.get("Status") or {}
    if status.get("State") in ("Absent", "Disabled", "UnavailableOffline"):
        return "unknown"
    if status.get("Health"):
        return HEALTH.get(str(status["Health"]), "unknown")
    thresholds = body.get("Thresholds")
    if not isinstance(thresholds, dict) or not thresholds:
        return "unknown"

    def crossed(*names: str) -> bool:
        for name in names:
            limit = _number((thresholds.get(name) or {}).get("Reading"))
            if limit is not None and (value >= limit if "Upper" in name else value <= limit):
                return True
        return False

    if crossed("UpperCritical", "UpperFatal", "LowerCritical", "LowerFatal"):
        return "critical"
    if crossed("UpperCaution", "LowerCaution"):
        return "warning"
    return "ok"


def _reading(name: str, kind: str, unit: str, body: dict[str, Any], value: Any) -> SensorReading:
    number = _number(value)
    health = _health(body, number)
    return SensorReading(name=name, kind=kind, value=number, unit=unit, health=health)  # type: ignore[arg-type]


def _from_sensor(body: dict[str, Any]) -> SensorReading:
    kind, unit = READING_KIND.get(str(body.get("ReadingType")), ("other", ""))
    unit = unit or str(body.get("ReadingUnits") or "")
    name = str(body.get("Name") or body.get("Id") or "sensor")
    return _reading(name, kind, unit, body, body.get("Reading"))


def _from_thermal(thermal: dict[str, Any]) -> list[SensorReading]:
    found = []
    for item in thermal.get("Temperatures") or []:
        name = str(item.get("Name") or item.get("MemberId") or "temperature")
        found.append(_reading(name, "temperature", "°C", item, item.get("ReadingCelsius")))
    for item in thermal.get("Fans") or []:
        name = str(item.get("Name") or item.get("FanName") or item.get("MemberId") or "fan")
        unit = "%" if item.get("ReadingUnits") == "Percent" else "RPM"
        found.append(_reading(name, "fan", unit, item, item.get("Reading")))
    return found


def _from_power(power: dict[str, Any]) -> list[SensorReading]:
    found = []
    for item in power.get("PowerControl") or []:
        name = str(item.get("Name") or "System power")
        found.append(_reading(name, "power", "W", item, item.get("PowerConsumedWatts")))
    for item in power.get("Voltages") or []:
        name = str(item.get("Name") or "voltage")
        found.append(_reading(name, "voltage", "V", item, item.get("ReadingVolts")))
    for item in power.get("PowerSupplies") or []:
        for prop, label in (
            ("PowerInputWatts", "input"),
            ("PowerOutputWatts", "output"),
            ("LastPowerOutputWatts", "output"),
        ):
            if prop in item:
                name = f"{item.get('Name') or 'Power supply'} {label}"
                found.append(_reading(name, "power", "W", item, item.get(prop)))
    return found


def _from_environment(metrics: dict[str, Any], chassis_name: str) -> list[SensorReading]:
    found = []
    for prop, label, kind, unit in (
        ("TemperatureCelsius", "temperature", "temperature", "°C"),
        ("PowerWatts", "power", "power", "W"),
        ("FanSpeedsPercent", "fan", "fan", "%"),
    ):
        value = metrics.get(prop)
        for item in value if isinstance(value, list) else [value] if value else []:
            name = str(item.get("DeviceName") or f"{chassis_name} {label}")
            found.append(_reading(name, kind, unit, item, item.get("Reading")))
    return found


def _from_coolant(client: Client, chassis: dict[str, Any]) -> list[SensorReading]:
    """Supply/return temperature and flow of cold-plate cooling loops, and pump speeds."""
    found = []
    for connector in members(client, chassis["CoolantConnectors"], cached=True):
        name = str(connector.get("Name") or connector.get("Id") or "Coolant")
        for prop, label, kind, unit in (
            ("SupplyTemperatureCelsius", "supply temperature", "temperature", "°C"),
            ("ReturnTemperatureCelsius", "return temperature", "temperature", "°C"),
            ("DeltaTemperatureCelsius", "temperature difference", "other", "K"),
            ("FlowLitersPerMinute", "flow", "other", "L/min"),
            ("SupplyPressurekPa", "supply pressure", "other", "kPa"),
        ):
            value = connector.get(prop)
            if isinstance(value, dict):
                found.append(
                    _reading(f"{name} {label}", kind, unit, connector, value.get("Reading"))
                )
    for pump in members(client, chassis["Pumps"], cached=True):
        speed = pump.get("PumpSpeedPercent")
        if isinstance(speed, dict):
            name = f"{pump.get('Name') or pump.get('Id') or 'Pump'} speed"
            found.append(_reading(name, "other", "%", pump, speed.get("Reading")))
    return found


def sensors(client: Client, sources: dict[str, float | None] | None = None) -> list[SensorReading]:
    """Per chassis: ``Sensors``, else ``EnvironmentMetrics``, else ``Thermal``/``Power``; plus
    coolant loops and pumps where the chassis has a ``ThermalSubsystem``. ``sources`` receives
    each Sensor's reading by its URI (for `power_watts` of the same look)."""
    found: list[SensorReading] = []
    for chassis in chassis_links(client):
        listed = members(client, chassis["Sensors"], cached=True)
        if listed:
            found.extend(_from_sensor(body) for body in listed)
            if sources is not None:
                sources.update((b["@odata.id"], _number(b.get("Reading"))) for b in listed)
        else:
            metrics = get_optional(client, chassis["EnvironmentMetrics"])
            if metrics:
                found.extend(_from_environment(metrics, chassis["name"]))
            else:
                thermal = get_optional(client, chassis["Thermal"])
                power = get_optional(client, chassis["Power"])
                found.extend(_from_thermal(thermal or {}) + _from_power(power or {}))
        found.extend(_from_coolant(client, chassis))
    seen: set[tuple[str, str]] = set()
    unique = []
    for reading in found:
        if (reading.name, reading.kind) not in seen:
            seen.add((reading.name, reading.kind))
            unique.append(reading)
    return unique


def power_watts(client: Client, fresh: dict[str, float | None] | None = None) -> float | None:
    """``EnvironmentMetrics.PowerWatts`` of the first chassis that has it, else the deprecated
    ``Power.PowerControl[0].PowerConsumedWatts``; None when the BMC reports neither.

    ``fresh``: Sensor readings by URI just read by `sensors`. ``PowerWatts`` is an excerpt of
    the Sensor its ``DataSourceUri`` names (remembered as structure), so when that Sensor was
    just read its reading is the answer and ``EnvironmentMetrics`` is not read again."""
    chassis_all = chassis_links(client)
    for chassis in chassis_all:
        path = chassis["EnvironmentMetrics"]
        source = client.cache.get(("watts_source", path))
        if fresh and source and source[0] > time.monotonic() and source[1] in fresh:
            watts = fresh[source[1]]
            if watts is not None:
                return watts
            continue  # the Sensor behind PowerWatts has no reading: neither has the excerpt
        metrics = get_optional(client, path) or {}
        excerpt = metrics.get("PowerWatts") or {}
        if isinstance(excerpt.get("DataSourceUri"), str):
            client.cache[("watts_source", path)] = (
                time.monotonic() + STRUCTURE_TTL,
                excerpt["DataSourceUri"],
            )
        watts = _number(excerpt.get("Reading"))
        if watts is not None:
            return watts
    for chassis in chassis_all:
        power = get_optional(client, chassis["Power"]) or {}
        controls = power.get("PowerControl") or []
        if controls:
            watts = _number(controls[0].get("PowerConsumedWatts"))
            if watts is not None:
                return watts
    return None


# --- inventory and firmware ----------------------------------------------------------------


def _text(body: dict[str, Any] | None, name: str) -> str:
    value = (body or {}).get(name)
    return "" if value in (None, "") or isinstance(value, dict | list) else str(value)


def inventory(client: Client) -> FruInventory:
    node = system(client)
    chassis_all = chassis_list(client)
    chassis = chassis_all[0] if chassis_all else {}
    bmc = manager(client)
    extra: dict[str, str] = {}
    for key, body, prop in (
        ("SKU", node, "SKU"),
        ("BIOS version", node, "BiosVersion"),
        ("Host name", node, "HostName"),
        ("Chassis type", chassis, "ChassisType"),
        ("Chassis model", chassis, "Model"),
        ("Chassis part number", chassis, "PartNumber"),
        ("Asset tag", node, "AssetTag"),
        ("BMC model", bmc, "Model"),
        ("BMC firmware", bmc, "FirmwareVersion"),
    ):
        if _text(body, prop):
            extra[key] = _text(body, prop)
    summary = node.get("ProcessorSummary") or {}
    if isinstance(summary.get("Count"), int):
        extra["Processors"] = str(summary["Count"])
    memory_gib = (node.get("MemorySummary") or {}).get("TotalSystemMemoryGiB")
    if _number(memory_gib) is not None:
        extra["Memory (GiB)"] = f"{_number(memory_gib):g}"
    for cpu in members(client, link(node, "Processors")):
        if _text(cpu, "Model"):
            extra[f"Processor {cpu.get('Id', '')}".strip()] = _text(cpu, "Model")
    for dimm in members(client, link(node, "Memory")):
        size = _number(dimm.get("CapacityMiB"))
        if size is not None:
            extra[f"Memory {dimm.get('Id', '')}".strip()] = f"{size:g} MiB"
    for nic in members(client, link(node, "EthernetInterfaces")):
        mac = _text(nic, "MACAddress") or _text(nic, "PermanentMACAddress")
        if mac:
            extra[f"NIC {nic.get('Id', '')}".strip()] = mac
    return FruInventory(
        manufacturer=_text(node, "Manufacturer") or _text(chassis, "Manufacturer"),
        product=_text(node, "Model"),
        serial=_text(node, "SerialNumber"),
        part_number=_text(node, "PartNumber"),
        board_serial="",  # Redfish has no board serial apart from the chassis' own
        chassis_serial=_text(chassis, "SerialNumber"),
        uuid=_text(node, "UUID"),
        extra=extra,
    )


def firmware(client: Client) -> list[FirmwareVersion]:
    """Every ``UpdateService/FirmwareInventory`` member; without one, the manager's firmware
    version and the system's BIOS version (what every Redfish BMC reports)."""
    update = get_optional(client, link(root(client), "UpdateService"))
    found: list[FirmwareVersion] = []
    for item in members(client, link(update, "FirmwareInventory")):
        related = tuple(
            r["@odata.id"]
            for r in item.get("RelatedItem") or []
            if isinstance(r, dict) and "@odata.id" in r
        )
        updateable = item.get("Updateable")
        found.append(
            FirmwareComponent(
                component=str(item.get("Name") or item.get("Id") or ""),
                version=_text(item, "Version"),
                id=str(item.get("Id") or ""),
                updateable=updateable if isinstance(updateable, bool) else None,
                related=related,
                uri=str(item.get("@odata.id") or ""),
            )
        )
    if found:
        return found
    bmc = manager(client)
    if _text(bmc, "FirmwareVersion"):
        found.append(
            FirmwareComponent(
                component="BMC",
                version=_text(bmc, "FirmwareVersion"),
                id="BMC",
                related=(str((bmc or {}).get("@odata.id", "")),),
            )
        )
    node = system(client)
    if _text(node, "BiosVersion"):
        found.append(
            FirmwareComponent(
                component="BIOS",
                version=_text(node, "BiosVersion"),
                id="BIOS",
                related=(str(node.get("@odata.id", "")),),
            )
        )
    return found
