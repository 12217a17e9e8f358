"""DMTF Redfish names the lab uses: schema versions, ``@odata`` annotations, error bodies.

Versions are those of DSP8010 releases up to 2023.x; `metadata()` lists exactly these.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from apps.lab.redfish.http import Response
from apps.lab.redfish.registry import BASE, base_message

REDFISH_VERSION = "1.17.0"

# namespace -> version of the resource schemas served
VERSIONS = {
    "ServiceRoot": "v1_15_0",
    "ComputerSystem": "v1_20_0",
    "Processor": "v1_18_0",
    "Memory": "v1_17_0",
    "EthernetInterface": "v1_11_0",
    "Bios": "v1_2_0",
    "Chassis": "v1_23_0",
    "EnvironmentMetrics": "v1_3_0",
    "Sensor": "v1_7_0",
    "ThermalSubsystem": "v1_3_0",
    "Fan": "v1_5_0",
    "CoolantConnector": "v1_0_0",
    "PowerSubsystem": "v1_1_0",
    "Power": "v1_7_1",
    "Thermal": "v1_7_1",
    "Manager": "v1_18_0",
    "LogService": "v1_4_0",
    "LogEntry": "v1_15_0",
    "UpdateService": "v1_11_0",
    "SoftwareInventory": "v1_10_0",
    "AccountService": "v1_13_0",
    "ManagerAccount": "v1_10_0",
    "Role": "v1_3_1",
    "SessionService": "v1_1_8",
    "Session": "v1_7_0",
    "ActionInfo": "v1_4_0",
    "Task": "v1_7_0",
    "TaskService": "v1_2_0",
    "Settings": "v1_3_5",
    "MessageRegistryFile": "v1_1_3",
    "AttributeRegistry": "v1_3_8",
}
COLLECTIONS = {
    "ComputerSystemCollection",
    "ProcessorCollection",
    "MemoryCollection",
    "EthernetInterfaceCollection",
    "ChassisCollection",
    "SensorCollection",
    "FanCollection",
    "CoolantConnectorCollection",
    "ManagerCollection",
    "LogServiceCollection",
    "LogEntryCollection",
    "SoftwareInventoryCollection",
    "ManagerAccountCollection",
    "RoleCollection",
    "SessionCollection",
    "TaskCollection",
    "MessageRegistryFileCollection",
}


def odata_type(namespace: str) -> str:
    if namespace in COLLECTIONS:
        return f"#{namespace}.{namespace}"
    return f"#{namespace}.{VERSIONS[namespace]}.{namespace}"


def resource(namespace: str, odata_id: str, **properties) -> dict:
    """A resource body with its three ``@odata`` annotations first."""
    return {
        "@odata.id": odata_id,
        "@odata.type": odata_type(namespace),
        "@odata.context": f"/redfish/v1/$metadata#{namespace}.{namespace}",
        **properties,
    }


def collection(namespace: str, odata_id: str, name: str, members: list[str]) -> dict:
    return resource(
        namespace,
        odata_id,
        Name=name,
        Members=[{"@odata.id": member} for member in members],
        **{"Members@odata.count": len(members)},
    )


def link(odata_id: str) -> dict:
    return {"@odata.id": odata_id}


def status(state: str = "Enabled", health: str | None = "OK") -> dict:
    return {"State": state, "Health": health}


# namespace -> version of what appears inside bodies without being a resource of its own
EMBEDDED = {"Message": "v1_1_2", "Resource": "v1_0_0"}


def metadata() -> str:
    """A minimal CSDL document referencing every schema the service uses."""
    refs = []
    versions = {**VERSIONS, **EMBEDDED}
    for namespace in sorted(set(versions) | COLLECTIONS):
        includes = [namespace]
        if namespace in versions:
            includes.append(f"{namespace}.{versions[namespace]}")
        uri = quoteattr(f"http://redfish.dmtf.org/schemas/v1/{namespace}_v1.xml")
        lines = "".join(f'    <edmx:Include Namespace="{n}"/>\n' for n in includes)
        refs.append(f"  <edmx:Reference Uri={uri}>\n{lines}  </edmx:Reference>\n")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">\n'
        + "".join(refs)
        + '  <edmx:Reference Uri="http://redfish.dmtf.org/schemas/v1/RedfishExtensions_v1.xml">\n'
        '    <edmx:Include Namespace="RedfishExtensions.v1_0_0" Alias="Redfish"/>\n'
        "  </edmx:Reference>\n"
        "  <edmx:DataServices>\n"
        '    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="Service">\n'
        f'      <EntityContainer Name="Service" Extends="ServiceRoot.{VERSIONS["ServiceRoot"]}'
        '.ServiceContainer"/>\n'
        "    </Schema>\n"
        "  </edmx:DataServices>\n"
        "</edmx:Edmx>\n"
    )


# --- errors -----------------------------------------------------------------------------------


class RedfishError(Exception):
    """An error answered with the standard body (DSP0266 "Error responses")."""

    def __init__(self, status: int, message_id: str, message: str, *args: str, headers=None):
        super().__init__(message)
        self.status = status
        self.message_id = message_id
        self.message = message
        self.args_ = [str(a) for a in args]
        self.headers = dict(headers or {})

    def response(self) -> Response:
        """The standard body (as DSP0266's example: ``code`` GeneralError): ``message`` says
        what failed in the lab's words, the single ``@Message.ExtendedInfo`` entry is the
        registry's own message with its arguments."""
        body = {
            "error": {
                "code": f"{BASE}.GeneralError",
                "message": self.message,
                "@Message.ExtendedInfo": [base_message(self.message_id, self.args_)],
            }
        }
        return Response(self.status, body, headers=self.headers)


def not_found(path: str) -> RedfishError:
    return RedfishError(
        404,
        "ResourceNotFound",
        f"The requested resource of type Resource named '{path}' was not found.",
        "Resource",
        path,
    )


def not_allowed(method: str, path: str, allow: str) -> RedfishError:
    return RedfishError(
        405,
        "OperationNotAllowed",
        f"The {method} operation is not allowed on '{path}'.",
        headers={"Allow": allow},
    )


def not_in_list(prop: str, value: object, action: str | None = None) -> RedfishError:
    if action:
        return RedfishError(
            400,
            "ActionParameterValueNotInList",
            f"The value '{value}' for the parameter {prop} in the action {action} is not in the "
            "list of acceptable values.",
            str(value),
            prop,
            action,
        )
    return RedfishError(
        400,
        "PropertyValueNotInList",
        f"The value '{value}' for the property {prop} is not in the list of acceptable values.",
        str(value),
        prop,
    )


def type_error(prop: str, value: object) -> RedfishError:
    return RedfishError(
        400,
        "PropertyValueTypeError",
        f"The value '{value}' for the property {prop} is not a type that the property can accept.",
        str(value),
        prop,
    )


def unknown_property(prop: str) -> RedfishError:
    return RedfishError(
        400,
        "PropertyUnknown",
        f"The property {prop} is not in the list of valid properties for the resource.",
        prop,
    )


def not_writable(prop: str) -> RedfishError:
    return RedfishError(
        400,
        "PropertyNotWritable",
        f"The property {prop} is a read-only property and cannot be assigned a value.",
        prop,
    )
