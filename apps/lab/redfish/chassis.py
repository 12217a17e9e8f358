"""The Chassis tree: sensors, environment metrics, thermal (fans, coolant) and power.

Readings come from the same `LabBmc.readings()` the IPMI face serves, quantised the same way,
so both faces report the same value. A sensor without a reading (host sensors while the host is
off) reads ``null``, never 0.
"""

from __future__ import annotations

import dataclasses

from apps.lab.bmc.node import SENSORS
from apps.lab.redfish.schema import collection, link, resource, status

CHASSIS = "/redfish/v1/Chassis/1"
SYSTEM = "/redfish/v1/Systems/1"
MANAGER = "/redfish/v1/Managers/1"
SENSORS_URI = f"{CHASSIS}/Sensors"
FLOW_ID = "CoolantFlow"
FAN_MAX_RPM = 6000.0


@dataclasses.dataclass(frozen=True)
class RedfishSensor:
    id: str
    number: int | None  # IPMI sensor number (None: Redfish-only)
    name: str
    reading_type: str
    units: str
    context: str


REDFISH_SENSORS = (
    RedfishSensor("CPU1Temp", 1, "CPU1 Temp", "Temperature", "Cel", "CPU"),
    RedfishSensor("CPU2Temp", 2, "CPU2 Temp", "Temperature", "Cel", "CPU"),
    RedfishSensor("WaterInletTemp", 3, "Water Inlet", "Temperature", "Cel", "LiquidInlet"),
    RedfishSensor("WaterOutletTemp", 4, "Water Outlet", "Temperature", "Cel", "LiquidOutlet"),
    RedfishSensor("Fan1Speed", 5, "Fan1", "Rotational", "RPM", "Fan"),
    RedfishSensor("Voltage12V", 6, "12V", "Voltage", "V", "VoltageRegulator"),
    RedfishSensor("SystemPower", 7, "System Power", "Power", "W", "Chassis"),
    RedfishSensor(FLOW_ID, None, "Coolant Flow", "LiquidFlowLPM", "L/min", "LiquidInlet"),
)
SENSOR_BY_ID = {s.id: s for s in REDFISH_SENSORS}
SPEC_BY_NUMBER = {spec.number: spec for spec in SENSORS}


def sensor_uri(sensor_id: str) -> str:
    return f"{SENSORS_URI}/{sensor_id}"


def values(bmc) -> dict[str, float | None]:
    """Every sensor's reading by Redfish id, as the IPMI face would report it."""
    with bmc.lock:
        raw = bmc.readings()
        flow = bmc.flow_l_min
    out: dict[str, float | None] = {}
    for sensor in REDFISH_SENSORS:
        if sensor.number is None:
            out[sensor.id] = round(flow, 2)
            continue
        value = raw[sensor.number]
        spec = SPEC_BY_NUMBER[sensor.number]
        out[sensor.id] = None if value is None else round(spec.to_value(spec.to_raw(value)), 3)
    return out


def request_values(svc) -> dict[str, float | None]:
    """`values` once per request the service handles: an expanded Sensors collection inlines
    every Sensor, and all of them (and the excerpts naming them) read the same instant."""
    cached = svc.__dict__.get("_request_values")
    if cached is not None and cached[0] == svc.requests:
        return cached[1]
    readings = values(svc.bmc)
    svc._request_values = (svc.requests, readings)
    return readings


def health(sensor: RedfishSensor, value: float | None) -> str | None:
    if value is None:
        return None
    spec = SPEC_BY_NUMBER.get(sensor.number) if sensor.number else None
    if spec is None:
        return "OK"
    if (spec.upper_critical is not None and value >= spec.upper_critical) or (
        spec.lower_critical is not None and value <= spec.lower_critical
    ):
        return "Critical"
    if (spec.upper_non_critical is not None and value >= spec.upper_non_critical) or (
        spec.lower_non_critical is not None and value <= spec.lower_non_critical
    ):
        return "Warning"
    return "OK"


def sensor_status(sensor: RedfishSensor, value: float | None) -> dict:
    if value is None:
        return status("UnavailableOffline", None)
    return status("Enabled", health(sensor, value))


def thresholds(sensor: RedfishSensor) -> dict:
    spec = SPEC_BY_NUMBER.get(sensor.number) if sensor.number else None
    if spec is None:
        return {}
    names = {
        "UpperCritical": spec.upper_critical,
        "UpperCaution": spec.upper_non_critical,
        "LowerCaution": spec.lower_non_critical,
        "LowerCritical": spec.lower_critical,
    }
    return {name: {"Reading": value} for name, value in names.items() if value is not None}


def excerpt(sensor_id: str, readings: dict) -> dict:
    return {"DataSourceUri": sensor_uri(sensor_id), "Reading": readings[sensor_id]}


# --- resources --------------------------------------------------------------------------------


def chassis(svc) -> dict:
    bmc = svc.bmc
    return resource(
        "Chassis",
        CHASSIS,
        Id="1",
        Name="Chassis",
        ChassisType="RackMount",
        Manufacturer="Heatsite Lab",
        Model="HX-500 water-cooled node",
        SerialNumber=f"CHS{bmc.index:06d}",
        PartNumber="HX-500-WC",
        PowerState=svc.power_state(),
        Status=status(),
        EnvironmentMetrics=link(f"{CHASSIS}/EnvironmentMetrics"),
        Sensors=link(SENSORS_URI),
        ThermalSubsystem=link(f"{CHASSIS}/ThermalSubsystem"),
        PowerSubsystem=link(f"{CHASSIS}/PowerSubsystem"),
        Power=link(f"{CHASSIS}/Power"),
        Thermal=link(f"{CHASSIS}/Thermal"),
        Links={"ComputerSystems": [link(SYSTEM)], "ManagedBy": [link(MANAGER)]},
    )


def sensors(svc) -> dict:
    members = [sensor_uri(s.id) for s in REDFISH_SENSORS]
    return collection("SensorCollection", SENSORS_URI, "Sensors", members)


def sensor(svc, sensor_id: str) -> dict:
    spec = SENSOR_BY_ID[sensor_id]
    value = request_values(svc)[sensor_id]
    return resource(
        "Sensor",
        sensor_uri(sensor_id),
        Id=sensor_id,
        Name=spec.name,
        ReadingType=spec.reading_type,
        Reading=value,
        ReadingUnits=spec.units,
        PhysicalContext=spec.context,
        Status=sensor_status(spec, value),
        Thresholds=thresholds(spec),
    )


def environment_metrics(svc) -> dict:
    readings = request_values(svc)
    return resource(
        "EnvironmentMetrics",
        f"{CHASSIS}/EnvironmentMetrics",
        Id="EnvironmentMetrics",
        Name="Chassis Environment Metrics",
        PowerWatts=excerpt("SystemPower", readings),
    )


def thermal_subsystem(svc) -> dict:
    base = f"{CHASSIS}/ThermalSubsystem"
    return resource(
        "ThermalSubsystem",
        base,
        Id="ThermalSubsystem",
        Name="Thermal Subsystem",
        Fans=link(f"{base}/Fans"),
        CoolantConnectors=link(f"{base}/CoolantConnectors"),
        Status=status(),
    )


def fans(svc) -> dict:
    base = f"{CHASSIS}/ThermalSubsystem/Fans"
    return collection("FanCollection", base, "Fans", [f"{base}/Fan1"])


def fan(svc) -> dict:
    rpm = request_values(svc)["Fan1Speed"]
    spec = SENSOR_BY_ID["Fan1Speed"]
    percent = None if rpm is None else round(100.0 * rpm / FAN_MAX_RPM, 1)
    return resource(
        "Fan",
        f"{CHASSIS}/ThermalSubsystem/Fans/Fan1",
        Id="Fan1",
        Name="Fan 1",
        PhysicalContext="SystemBoard",
        SpeedPercent={"DataSourceUri": sensor_uri(spec.id), "Reading": percent, "SpeedRPM": rpm},
        Status=sensor_status(spec, rpm),
    )


def coolant_connectors(svc) -> dict:
    base = f"{CHASSIS}/ThermalSubsystem/CoolantConnectors"
    return collection("CoolantConnectorCollection", base, "Coolant Connectors", [f"{base}/1"])


def coolant_connector(svc) -> dict:
    readings = request_values(svc)
    supply, back = readings["WaterInletTemp"], readings["WaterOutletTemp"]
    delta = None if supply is None or back is None else round(back - supply, 3)
    return resource(
        "CoolantConnector",
        f"{CHASSIS}/ThermalSubsystem/CoolantConnectors/1",
        Id="1",
        Name="Cold plate loop connection",
        CoolantConnectorType="Pair",
        Coolant={"CoolantType": "Water"},
        SupplyTemperatureCelsius=excerpt("WaterInletTemp", readings),
        ReturnTemperatureCelsius=excerpt("WaterOutletTemp", readings),
        FlowLitersPerMinute=excerpt(FLOW_ID, readings),
        DeltaTemperatureCelsius={"Reading": delta},
        Status=status(),
    )


def power_subsystem(svc) -> dict:
    return resource(
        "PowerSubsystem",
        f"{CHASSIS}/PowerSubsystem",
        Id="PowerSubsystem",
        Name="Power Subsystem",
        CapacityWatts=SPEC_BY_NUMBER[7].upper_critical,
        Status=status(),
    )


def power(svc) -> dict:
    """The deprecated Power resource (clients from before 2020 read only this)."""
    base = f"{CHASSIS}/Power"
    readings = request_values(svc)
    volts = SENSOR_BY_ID["Voltage12V"]
    spec = SPEC_BY_NUMBER[6]
    return resource(
        "Power",
        base,
        Id="Power",
        Name="Power",
        PowerControl=[
            {
                "@odata.id": f"{base}#/PowerControl/0",
                "MemberId": "0",
                "Name": "System Power Control",
                "PowerConsumedWatts": readings["SystemPower"],
                "PowerCapacityWatts": SPEC_BY_NUMBER[7].upper_critical,
                "Status": status(),
            }
        ],
        Voltages=[
            {
                "@odata.id": f"{base}#/Voltages/0",
                "MemberId": "0",
                "Name": "12V",
                "SensorNumber": 6,
                "ReadingVolts": readings["Voltage12V"],
                "LowerThresholdCritical": spec.lower_critical,
                "LowerThresholdNonCritical": spec.lower_non_critical,
                "UpperThresholdNonCritical": spec.upper_non_critical,
                "UpperThresholdCritical": spec.upper_critical,
                "PhysicalContext": volts.context,
                "Status": sensor_status(volts, readings["Voltage12V"]),
            }
        ],
    )


def thermal(svc) -> dict:
    """The deprecated Thermal resource."""
    base = f"{CHASSIS}/Thermal"
    readings = request_values(svc)
    temperatures = []
    for sensor in REDFISH_SENSORS:
        if sensor.reading_type != "Temperature":
            continue
        spec = SPEC_BY_NUMBER[sensor.number]
        temperatures.append(
            {
                "@odata.id": f"{base}#/Temperatures/{len(temperatures)}",
                "MemberId": str(len(temperatures)),
                "Name": sensor.name,
                "SensorNumber": sensor.number,
                "ReadingCelsius": readings[sensor.id],
                "UpperThresholdNonCritical": spec.upper_non_critical,
                "UpperThresholdCritical": spec.upper_critical,
                "PhysicalContext": sensor.context,
                "Status": sensor_status(sensor, readings[sensor.id]),
            }
        )
    fan_sensor, fan_spec = SENSOR_BY_ID["Fan1Speed"], SPEC_BY_NUMBER[5]
    return resource(
        "Thermal",
        base,
        Id="Thermal",
        Name="Thermal",
        Temperatures=temperatures,
        Fans=[
            {
                "@odata.id": f"{base}#/Fans/0",
                "MemberId": "0",
                "Name": "Fan1",
                "SensorNumber": 5,
                "Reading": readings["Fan1Speed"],
                "ReadingUnits": "RPM",
                "LowerThresholdCritical": fan_spec.lower_critical,
                "LowerThresholdNonCritical": fan_spec.lower_non_critical,
                "PhysicalContext": "SystemBoard",
                "Status": sensor_status(fan_sensor, readings["Fan1Speed"]),
            }
        ],
    )


def routes(svc) -> dict:
    """GET path -> body builder for the chassis tree."""
    table = {
        CHASSIS: chassis,
        SENSORS_URI: sensors,
        f"{CHASSIS}/EnvironmentMetrics": environment_metrics,
        f"{CHASSIS}/ThermalSubsystem": thermal_subsystem,
        f"{CHASSIS}/ThermalSubsystem/Fans": fans,
        f"{CHASSIS}/ThermalSubsystem/Fans/Fan1": fan,
        f"{CHASSIS}/ThermalSubsystem/CoolantConnectors": coolant_connectors,
        f"{CHASSIS}/ThermalSubsystem/CoolantConnectors/1": coolant_connector,
        f"{CHASSIS}/PowerSubsystem": power_subsystem,
        f"{CHASSIS}/Power": power,
        f"{CHASSIS}/Thermal": thermal,
    }
    for sensor_id in SENSOR_BY_ID:
        table[sensor_uri(sensor_id)] = lambda svc, _id=sensor_id: sensor(svc, _id)
    return table
