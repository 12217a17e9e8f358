"""Read-only bodies of the lab's Redfish tree outside the chassis: service root, system (with
processors, memory, NICs, BIOS), manager and its SEL, firmware inventory, accounts, sessions."""

from __future__ import annotations

import datetime
import uuid as uuidlib

from apps.lab.redfish import bios
from apps.lab.redfish.chassis import CHASSIS, MANAGER, SYSTEM
from apps.lab.redfish.schema import REDFISH_VERSION, collection, link, resource, status
from apps.lab.redfish.updates import MANAGER_RESET_TYPES

ROOT = "/redfish/v1/"
RESET_TYPES = (
    "On",
    "ForceOff",
    "GracefulShutdown",
    "ForceRestart",
    "GracefulRestart",
    "PowerCycle",
    "Nmi",
)
BOOT_TARGETS = {  # Redfish BootSourceOverrideTarget -> the node's boot device
    "None": "default",
    "Pxe": "network",
    "Hdd": "disk",
    "BiosSetup": "bios",
    "UefiHttp": "http",
    "Cd": "cdrom",
    "Usb": "usb",
}
BOOT_DEVICES = {device: target for target, device in BOOT_TARGETS.items()}
BOOT_DEVICES["safe"] = "Hdd"  # IPMI's "force boot from disk, safe mode": a disk boot
MANUFACTURER = "Heatsite Lab"
CPUS = 2
DIMMS = 8
DIMM_MIB = 32768
NICS = 2
SOFTWARE = ("BMC", "BIOS", "NIC", "CPLD")
LOG = f"{MANAGER}/LogServices/SEL"
SESSIONS = "/redfish/v1/SessionService/Sessions"
ACCOUNTS = "/redfish/v1/AccountService/Accounts"
INVENTORY = "/redfish/v1/UpdateService/FirmwareInventory"


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def service_root(svc) -> dict:
    return resource(
        "ServiceRoot",
        ROOT,
        Id="RootService",
        Name="Heatsite Lab Redfish Service",
        RedfishVersion=REDFISH_VERSION,
        UUID=str(uuidlib.uuid5(svc.bmc.uuid, "redfish-service")),
        Vendor=MANUFACTURER,
        Product="Heatsite Lab BMC",
        Systems=link("/redfish/v1/Systems"),
        Chassis=link("/redfish/v1/Chassis"),
        Managers=link("/redfish/v1/Managers"),
        UpdateService=link("/redfish/v1/UpdateService"),
        AccountService=link("/redfish/v1/AccountService"),
        SessionService=link("/redfish/v1/SessionService"),
        Tasks=link("/redfish/v1/TaskService"),
        Registries=link(bios.REGISTRIES),
        Links={"Sessions": link(SESSIONS)},
        ProtocolFeaturesSupported={
            # $expand=. one level (collection members inline): what a poller needs
            "ExpandQuery": {
                "ExpandAll": False,
                "Levels": True,
                "Links": False,
                "NoLinks": True,
                "MaxLevels": 1,
            },
            "FilterQuery": False,
            "SelectQuery": False,
            "OnlyMemberQuery": False,
            "ExcerptQuery": False,
        },
    )


def odata_document(svc) -> dict:
    """The OData service document: the service root's top-level links, and its sessions."""
    value = [{"name": "Service", "kind": "Singleton", "url": ROOT}]
    for name, target in service_root(svc).items():
        if isinstance(target, dict) and set(target) == {"@odata.id"}:
            value.append({"name": name, "kind": "Singleton", "url": target["@odata.id"]})
    value.append({"name": "Sessions", "kind": "Singleton", "url": SESSIONS})
    return {"@odata.context": "/redfish/v1/$metadata", "value": value}


# --- the system ------------------------------------------------------------------------------


def boot(svc) -> dict:
    current = svc.bmc.boot
    device = current["device"]
    enabled = "Disabled"
    if device != "default":
        enabled = "Continuous" if current["persistent"] else "Once"
    return {
        "BootSourceOverrideTarget": BOOT_DEVICES.get(device, "None"),
        "BootSourceOverrideEnabled": enabled,
        "BootSourceOverrideMode": "UEFI" if current["uefi"] else "Legacy",
        "BootSourceOverrideTarget@Redfish.AllowableValues": list(BOOT_TARGETS),
        "BootSourceOverrideEnabled@Redfish.AllowableValues": ["Once", "Continuous", "Disabled"],
        "BootSourceOverrideMode@Redfish.AllowableValues": ["UEFI", "Legacy"],
    }


def boot_progress(svc) -> str:
    if svc.bmc.powerstate != "on":
        return "None"
    return "PCIResourceConfigStarted" if svc.boot_failed else "OSRunning"


def system(svc) -> dict:
    bmc = svc.bmc
    with bmc.lock:
        boot_body = boot(svc)
    return resource(
        "ComputerSystem",
        SYSTEM,
        Id="1",
        Name=bmc.name,
        HostName=bmc.name,
        SystemType="Physical",
        Manufacturer=MANUFACTURER,
        Model="HX-500 water-cooled node",
        SerialNumber=bmc.serial,
        PartNumber="HX-500-WC",
        UUID=str(bmc.uuid),
        BiosVersion=bmc.bios_version,
        PowerState=svc.power_state(),
        Status=status(health="Critical" if svc.boot_failed else "OK"),
        BootProgress={"LastState": boot_progress(svc)},
        Boot=boot_body,
        ProcessorSummary={
            "Count": CPUS,
            "CoreCount": 32 * CPUS,
            "LogicalProcessorCount": 64 * CPUS,
            "Model": "Heatsite Lab HX 32-core",
            "Status": status(),
        },
        MemorySummary={
            "TotalSystemMemoryGiB": DIMMS * DIMM_MIB // 1024,
            "Status": status(),
        },
        Processors=link(f"{SYSTEM}/Processors"),
        Memory=link(f"{SYSTEM}/Memory"),
        EthernetInterfaces=link(f"{SYSTEM}/EthernetInterfaces"),
        Bios=link(f"{SYSTEM}/Bios"),
        Actions={
            "#ComputerSystem.Reset": {
                "target": f"{SYSTEM}/Actions/ComputerSystem.Reset",
                "ResetType@Redfish.AllowableValues": list(RESET_TYPES),
                "@Redfish.ActionInfo": f"{SYSTEM}/ResetActionInfo",
            }
        },
        Links={"Chassis": [link(CHASSIS)], "ManagedBy": [link(MANAGER)]},
    )


def reset_action_info(svc) -> dict:
    return resource(
        "ActionInfo",
        f"{SYSTEM}/ResetActionInfo",
        Id="ResetActionInfo",
        Name="Reset Action Info",
        Parameters=[
            {
                "Name": "ResetType",
                "Required": True,
                "DataType": "String",
                "AllowableValues": list(RESET_TYPES),
            }
        ],
    )


def processor(svc, number: int) -> dict:
    return resource(
        "Processor",
        f"{SYSTEM}/Processors/CPU{number}",
        Id=f"CPU{number}",
        Name=f"Processor {number}",
        Socket=f"CPU {number}",
        ProcessorType="CPU",
        ProcessorArchitecture="x86",
        InstructionSet="x86-64",
        Manufacturer=MANUFACTURER,
        Model="Heatsite Lab HX 32-core",
        MaxSpeedMHz=3500,
        TotalCores=32,
        TotalThreads=64,
        Status=status(),
    )


def dimm(svc, number: int) -> dict:
    return resource(
        "Memory",
        f"{SYSTEM}/Memory/DIMM{number}",
        Id=f"DIMM{number}",
        Name=f"DIMM {number}",
        DeviceLocator=f"DIMM {'ABCDEFGH'[(number - 1) % 8]}1",
        MemoryType="DRAM",
        MemoryDeviceType="DDR5",
        CapacityMiB=DIMM_MIB,
        OperatingSpeedMhz=4800,
        Manufacturer=MANUFACTURER,
        Status=status(),
    )


def mac(svc, number: int) -> str:
    index = svc.bmc.index
    return f"02:48:53:{(index >> 8) & 0xFF:02x}:{index & 0xFF:02x}:{number:02x}"


def nic(svc, number: int) -> dict:
    up = svc.bmc.powerstate == "on"
    return resource(
        "EthernetInterface",
        f"{SYSTEM}/EthernetInterfaces/NIC{number}",
        Id=f"NIC{number}",
        Name=f"Ethernet Interface {number}",
        MACAddress=mac(svc, number),
        PermanentMACAddress=mac(svc, number),
        SpeedMbps=25000,
        FullDuplex=True,
        InterfaceEnabled=True,
        LinkStatus="LinkUp" if up else "LinkDown",
        Status=status(),
    )


# --- the manager, its log, firmware inventory ---------------------------------------------------


def manager(svc) -> dict:
    bmc = svc.bmc
    return resource(
        "Manager",
        MANAGER,
        Id="1",
        Name="Manager",
        ManagerType="BMC",
        Manufacturer=MANUFACTURER,
        Model="Heatsite Lab BMC",
        FirmwareVersion=bmc.bmc_version,
        UUID=str(uuidlib.uuid5(bmc.uuid, "manager")),
        PowerState="On",
        Status=status(),
        DateTime=iso(datetime.datetime.now(datetime.UTC)),
        DateTimeLocalOffset="+00:00",
        SerialConsole={
            "ServiceEnabled": True,
            "MaxConcurrentSessions": 1,
            "ConnectTypesSupported": ["IPMI"],
        },
        LogServices=link(f"{MANAGER}/LogServices"),
        Actions={
            "#Manager.Reset": {
                "target": f"{MANAGER}/Actions/Manager.Reset",
                "ResetType@Redfish.AllowableValues": list(MANAGER_RESET_TYPES),
                "@Redfish.ActionInfo": f"{MANAGER}/ResetActionInfo",
            }
        },
        Links={"ManagerForServers": [link(SYSTEM)], "ManagerForChassis": [link(CHASSIS)]},
    )


def manager_reset_action_info(svc) -> dict:
    return resource(
        "ActionInfo",
        f"{MANAGER}/ResetActionInfo",
        Id="ResetActionInfo",
        Name="Manager Reset Action Info",
        Parameters=[
            {
                "Name": "ResetType",
                "Required": False,  # GracefulRestart when left out
                "DataType": "String",
                "AllowableValues": list(MANAGER_RESET_TYPES),
            }
        ],
    )


def clear_log_action_info(svc) -> dict:
    return resource(
        "ActionInfo",
        f"{LOG}/ClearLogActionInfo",
        Id="ClearLogActionInfo",
        Name="Clear Log Action Info",
        Parameters=[],  # the action takes none
    )


def log_services(svc) -> dict:
    return collection("LogServiceCollection", f"{MANAGER}/LogServices", "Log Services", [LOG])


def log_service(svc) -> dict:
    return resource(
        "LogService",
        LOG,
        Id="SEL",
        Name="System Event Log",
        LogEntryType="SEL",
        OverWritePolicy="WrapsWhenFull",
        MaxNumberOfRecords=512,
        ServiceEnabled=True,
        Entries=link(f"{LOG}/Entries"),
        Actions={
            "#LogService.ClearLog": {
                "target": f"{LOG}/Actions/LogService.ClearLog",
                "@Redfish.ActionInfo": f"{LOG}/ClearLogActionInfo",
            }
        },
        Status=status(),
    )


def log_entries(svc) -> dict:
    with svc.bmc.lock:
        ids = [event["id"] for event in svc.bmc.events]
    members = [f"{LOG}/Entries/{event_id}" for event_id in ids]
    return collection("LogEntryCollection", f"{LOG}/Entries", "System Event Log Entries", members)


def log_entry(svc, event: dict) -> dict:
    return resource(
        "LogEntry",
        f"{LOG}/Entries/{event['id']}",
        Id=str(event["id"]),
        Name=f"Log Entry {event['id']}",
        EntryType="SEL",
        Severity=event["severity"],
        Created=iso(event["created"]),
        Message=event["message"],
        SensorType=event["sensor_type"],
        EntryCode="Assert",
    )


def update_service(svc) -> dict:
    return resource(
        "UpdateService",
        "/redfish/v1/UpdateService",
        Id="UpdateService",
        Name="Update Service",
        ServiceEnabled=True,
        FirmwareInventory=link(INVENTORY),
        MultipartHttpPushUri="/redfish/v1/UpdateService/upload",
        MaxImageSizeBytes=8 * 1024 * 1024,
        Actions={
            "#UpdateService.SimpleUpdate": {
                "target": "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                "TransferProtocol@Redfish.AllowableValues": ["HTTP", "HTTPS"],
                "@Redfish.ActionInfo": "/redfish/v1/UpdateService/SimpleUpdateActionInfo",
            }
        },
        Status=status(),
    )


def firmware_inventory(svc) -> dict:
    members = [f"{INVENTORY}/{name}" for name in SOFTWARE]
    return collection("SoftwareInventoryCollection", INVENTORY, "Firmware Inventory", members)


def software(svc, name: str) -> dict:
    bmc = svc.bmc
    version, related = {
        "BMC": (bmc.bmc_version, [link(MANAGER)]),
        "BIOS": (bmc.bios_version, [link(SYSTEM)]),
        "NIC": (
            bmc.nic_firmware,
            [link(f"{SYSTEM}/EthernetInterfaces/NIC{n + 1}") for n in range(NICS)],
        ),
        "CPLD": (bmc.cpld_version, [link(CHASSIS)]),
    }[name]
    return resource(
        "SoftwareInventory",
        f"{INVENTORY}/{name}",
        Id=name,
        Name=f"{name} firmware",
        Version=version,
        Updateable=True,
        WriteProtected=False,
        SoftwareId=f"HX-500-{name}",
        Manufacturer=MANUFACTURER,
        RelatedItem=related,
        Status=status(),
    )


# --- accounts and sessions --------------------------------------------------------------------


def account_service(svc) -> dict:
    return resource(
        "AccountService",
        "/redfish/v1/AccountService",
        Id="AccountService",
        Name="Account Service",
        ServiceEnabled=True,
        MinPasswordLength=8,
        MaxPasswordLength=20,
        Accounts=link(ACCOUNTS),
        Roles=link(ROLES),
        Status=status(),
    )


def accounts(svc) -> dict:
    return collection("ManagerAccountCollection", ACCOUNTS, "Accounts", [f"{ACCOUNTS}/1"])


def account(svc) -> dict:
    return resource(
        "ManagerAccount",
        f"{ACCOUNTS}/1",
        Id="1",
        Name="User Account",
        UserName=svc.bmc.username,
        Password=None,
        RoleId="Administrator",
        Enabled=True,
        Locked=False,
        AccountTypes=["Redfish", "IPMI"],
        Links={"Role": link(f"{ROLES}/Administrator")},
    )


ROLES = "/redfish/v1/AccountService/Roles"
PREDEFINED_ROLES = {  # DSP0266's predefined roles and their privileges
    "Administrator": (
        "Login",
        "ConfigureManager",
        "ConfigureUsers",
        "ConfigureSelf",
        "ConfigureComponents",
    ),
    "Operator": ("Login", "ConfigureSelf", "ConfigureComponents"),
    "ReadOnly": ("Login", "ConfigureSelf"),
}


def roles(svc) -> dict:
    return collection("RoleCollection", ROLES, "Roles", [f"{ROLES}/{r}" for r in PREDEFINED_ROLES])


def role(svc, role_id: str) -> dict:
    return resource(
        "Role",
        f"{ROLES}/{role_id}",
        Id=role_id,
        Name=role_id,
        RoleId=role_id,
        IsPredefined=True,
        AssignedPrivileges=list(PREDEFINED_ROLES[role_id]),
    )


def session_service(svc) -> dict:
    return resource(
        "SessionService",
        "/redfish/v1/SessionService",
        Id="SessionService",
        Name="Session Service",
        ServiceEnabled=True,
        SessionTimeout=int(svc.session_timeout),
        Sessions=link(SESSIONS),
        Status=status(),
    )


def sessions(svc) -> dict:
    members = [f"{SESSIONS}/{sid}" for sid in svc.sessions]
    return collection("SessionCollection", SESSIONS, "Sessions", members)


def session(svc, sess) -> dict:
    return resource(
        "Session",
        f"{SESSIONS}/{sess.id}",
        Id=sess.id,
        Name="User Session",
        UserName=sess.username,
        Password=None,
        SessionType="Redfish",
        CreatedTime=iso(sess.created),
    )


def routes(svc) -> dict:
    """GET path -> body builder for everything outside the chassis tree."""
    table = {
        ROOT: service_root,
        "/redfish/v1/Systems": lambda s: collection(
            "ComputerSystemCollection", "/redfish/v1/Systems", "Computer Systems", [SYSTEM]
        ),
        SYSTEM: system,
        f"{SYSTEM}/ResetActionInfo": reset_action_info,
        f"{SYSTEM}/Processors": lambda s: collection(
            "ProcessorCollection",
            f"{SYSTEM}/Processors",
            "Processors",
            [f"{SYSTEM}/Processors/CPU{n + 1}" for n in range(CPUS)],
        ),
        f"{SYSTEM}/Memory": lambda s: collection(
            "MemoryCollection",
            f"{SYSTEM}/Memory",
            "Memory",
            [f"{SYSTEM}/Memory/DIMM{n + 1}" for n in range(DIMMS)],
        ),
        f"{SYSTEM}/EthernetInterfaces": lambda s: collection(
            "EthernetInterfaceCollection",
            f"{SYSTEM}/EthernetInterfaces",
            "Ethernet Interfaces",
            [f"{SYSTEM}/EthernetInterfaces/NIC{n + 1}" for n in range(NICS)],
        ),
        **bios.routes(),
        "/redfish/v1/Chassis": lambda s: collection(
            "ChassisCollection", "/redfish/v1/Chassis", "Chassis", [CHASSIS]
        ),
        "/redfish/v1/Managers": lambda s: collection(
            "ManagerCollection", "/redfish/v1/Managers", "Managers", [MANAGER]
        ),
        MANAGER: manager,
        f"{MANAGER}/ResetActionInfo": manager_reset_action_info,
        f"{LOG}/ClearLogActionInfo": clear_log_action_info,
        f"{MANAGER}/LogServices": log_services,
        LOG: log_service,
        f"{LOG}/Entries": log_entries,
        "/redfish/v1/UpdateService": update_service,
        INVENTORY: firmware_inventory,
        "/redfish/v1/AccountService": account_service,
        ACCOUNTS: accounts,
        f"{ACCOUNTS}/1": account,
        ROLES: roles,
        "/redfish/v1/SessionService": session_service,
        SESSIONS: sessions,
    }
    for n in range(1, CPUS + 1):
        table[f"{SYSTEM}/Processors/CPU{n}"] = lambda s, _n=n: processor(s, _n)
    for n in range(1, DIMMS + 1):
        table[f"{SYSTEM}/Memory/DIMM{n}"] = lambda s, _n=n: dimm(s, _n)
    for n in range(1, NICS + 1):
        table[f"{SYSTEM}/EthernetInterfaces/NIC{n}"] = lambda s, _n=n: nic(s, _n)
    for role_id in PREDEFINED_ROLES:
        table[f"{ROLES}/{role_id}"] = lambda s, _id=role_id: role(s, _id)
    for name in SOFTWARE:
        table[f"{INVENTORY}/{name}"] = lambda s, _name=name: software(s, _name)
    return table
