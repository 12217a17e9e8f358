"""DMTF Redfish names the lab uses: schema versions, ``@odata`` annotations, error bodies.

Versions are those of DSP8010 releases up to 2023.x; `metadata()` lists exactly these.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from apps.lab.redfish.http import Response

REDFISH_VERSION = "1.17.0"
BASE = "Base.1.16"  # Base message registry: MessageId = "Base.1.16.<Id>"

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


def metadata() -> str:
    """A minimal CSDL document referencing every schema the service uses."""
    refs = []
    for namespace in sorted(set(VERSIONS) | COLLECTIONS):
        includes = [namespace]
        if namespace in VERSIONS:
            includes.append(f"{namespace}.{VERSIONS[namespace]}")
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

MESSAGES = {
    # id: (severity, resolution)
    "ResourceNotFound": (
        "Critical",
        "Provide a valid resource identifier and resubmit the request.",
    ),
    "NoValidSession": ("Critical", "Establish a session before attempting any operations."),
    "InsufficientPrivilege": ("Critical", "Either abandon the operation or change the privilege."),
    "OperationNotAllowed": ("Critical", "None."),
    "MalformedJSON": ("Critical", "Ensure that the request body is valid JSON and resubmit."),
    "PropertyUnknown": ("Warning", "Remove the unknown property from the request body."),
    "PropertyNotWritable": ("Warning", "Remove the property from the request body and resubmit."),
    "PropertyValueNotInList": ("Warning", "Choose a value from the enumeration list."),
    "PropertyValueTypeError": ("Warning", "Correct the value for the property and resubmit."),
    "PropertyValueOutOfRange": ("Warning", "Correct the value for the property and resubmit."),
    "PropertyMissing": ("Warning", "Ensure that the property is in the request body."),
    "ActionParameterMissing": ("Critical", "Supply the action with the required parameter."),
    "ActionParameterValueNotInList": ("Warning", "Choose a value from the enumeration list."),
    "ActionParameterUnknown": ("Warning", "Correct the invalid action parameter and resubmit."),
    "ActionNotSupported": ("Critical", "The action supplied cannot be resubmitted."),
    "SessionLimitExceeded": ("Critical", "Reduce the number of other sessions and try again."),
    "ChassisPowerStateOnRequired": ("Critical", "Power on the chassis and resubmit the request."),
    "QueryNotSupported": ("Warning", "Remove the query parameters and resubmit the request."),
    "PreconditionFailed": ("Critical", "Try the operation again using the appropriate ETag."),
    "PropertyValueConflict": ("Warning", "No resolution is required."),
    "InternalError": (
        "Critical",
        "Resubmit the request. If the problem persists, reset the service.",
    ),
}


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
        severity, resolution = MESSAGES[self.message_id]
        body = {
            "error": {
                "code": f"{BASE}.GeneralError",
                "message": "A general error has occurred. See ExtendedInfo for more information.",
                "@Message.ExtendedInfo": [
                    {
                        "@odata.type": "#Message.v1_1_2.Message",
                        "MessageId": f"{BASE}.{self.message_id}",
                        "Message": self.message,
                        "MessageArgs": self.args_,
                        "Severity": severity,
                        "MessageSeverity": severity,
                        "Resolution": resolution,
                    }
                ],
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
