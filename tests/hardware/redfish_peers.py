"""Third parties' Redfish services on loopback over TLS, for the Redfish adapter's tests.

* `Emulator`: OpenStack's sushy-emulator (PyPI ``sushy-tools``) in-process with its fake driver,
  a fresh state directory, bcrypt basic auth, and a self-signed certificate made here. A small
  WSGI layer in front adds what the emulator lacks and real BMCs have: a session service
  (``X-Auth-Token``; tokens can be expired to force a re-login) and one path that answers a
  DMTF error body (sushy's ``error.json`` sample) with 400.
* `StaticService`: ``sushy-static`` serving the JSON samples shipped in the ``sushy`` wheel,
  laid out as a tree at their ``@odata.id`` paths, plus a cold-plate chassis written here from
  the schema (``Sensors``, ``EnvironmentMetrics``, ``ThermalSubsystem/CoolantConnectors``): the
  samples have none of these.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import importlib.resources
import io
import json
import secrets
import ssl
import threading
import warnings
from http import server as http_server
from pathlib import Path

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apps.hardware.drivers import BmcEndpoint

USER, PASSWORD = "admin", "password"
SYSTEM_UUID = "27946b59-9e44-4fa7-8e91-f3527a1ef094"


def make_certificate(directory: Path, name: str = "bmc") -> tuple[Path, Path, str]:
    """A self-signed certificate for 127.0.0.1: (cert path, key path, SHA-256 fingerprint)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.lab.invalid")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return cert_path, key_path, fingerprint


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


class _Service:
    """Common parts: port, certificate and an endpoint for the driver."""

    port: int
    fingerprint: str

    def endpoint(self, **changes) -> BmcEndpoint:
        values = {
            "host": "127.0.0.1",
            "port": self.port,
            "username": USER,
            "password": PASSWORD,
            "protocol": "redfish",
            "tls_fingerprint": self.fingerprint,
        }
        values.update(changes)
        return BmcEndpoint(**values)


# --- sushy-emulator ---------------------------------------------------------------------


class SessionLayer:
    """WSGI middleware: a Redfish session service in front of the emulator's basic auth."""

    SESSIONS = "/redfish/v1/SessionService/Sessions"
    FAIL_400 = "/redfish/v1/Heatsite/Fail400"

    def __init__(self, app, sessions: bool = True):
        self.app = app
        self.sessions = sessions
        self.tokens: dict[str, str] = {}  # token -> session id
        self.logins = 0
        self.logouts = 0
        self.requests = 0
        self.resets: list[str] = []  # ResetType of every ComputerSystem.Reset received
        self.connection_headers: set[str] = set()
        self.lock = threading.Lock()
        self.basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def expire_all(self) -> None:
        with self.lock:
            self.tokens.clear()

    def __call__(self, env, start_response):
        path = env.get("PATH_INFO", "").rstrip("/")
        method = env["REQUEST_METHOD"]
        with self.lock:
            self.requests += 1
            self.connection_headers.add(env.get("HTTP_CONNECTION", ""))
        if method == "POST" and path.endswith("/Actions/ComputerSystem.Reset"):
            length = int(env.get("CONTENT_LENGTH") or 0)
            raw = env["wsgi.input"].read(length)
            env["wsgi.input"] = io.BytesIO(raw)
            with self.lock:
                self.resets.append(json.loads(raw or b"{}").get("ResetType"))
        if path == self.FAIL_400:
            body = importlib.resources.files("sushy") / "tests/unit/json_samples/error.json"
            return self._reply(start_response, "400 Bad Request", body.read_bytes())
        if self.sessions and path == self.SESSIONS and method == "POST":
            length = int(env.get("CONTENT_LENGTH") or 0)
            data = json.loads(env["wsgi.input"].read(length) or b"{}")
            if (data.get("UserName"), data.get("Password")) != (USER, PASSWORD):
                return self._reply(start_response, "401 Unauthorized", b'{"error": {}}')
            token, session_id = secrets.token_hex(16), secrets.token_hex(4)
            with self.lock:
                self.tokens[token] = session_id
                self.logins += 1
            location = f"{self.SESSIONS}/{session_id}"
            body = json.dumps({"@odata.id": location, "Id": session_id, "UserName": USER})
            return self._reply(
                start_response,
                "201 Created",
                body.encode(),
                [("X-Auth-Token", token), ("Location", location)],
            )
        token = env.get("HTTP_X_AUTH_TOKEN")
        if self.sessions and token is not None:
            with self.lock:
                valid = token in self.tokens
                if valid and method == "DELETE" and path.startswith(self.SESSIONS + "/"):
                    del self.tokens[token]
                    self.logouts += 1
                    return self._reply(start_response, "204 No Content", b"")
            if not valid:
                return self._reply(start_response, "401 Unauthorized", b'{"error": {}}')
            env["HTTP_AUTHORIZATION"] = self.basic
        return self.app(env, start_response)

    @staticmethod
    def _reply(start_response, status, body: bytes, headers=()):
        start_response(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers],
        )
        return [body]


class Emulator(_Service):
    """sushy-emulator with its fake driver (power changes land 1 s after the request)."""

    def __init__(self, directory: Path, *, sessions: bool = True):
        from sushy_tools.emulator.resources.systems import fakedriver

        class PromptFakeDriver(fakedriver.FakeDriver):
            """The emulator's own driver, its random 1-11 s delay pinned to 1 s for test speed,
            with the firmware versions it lacks (what its SimpleUpdate reads and bumps)."""

            def get_versions(self, identity):
                return dict(self._get(identity).get("versions") or {"BiosVersion": "1.0.0"})

            def set_versions(self, identity, firmware_versions):
                system = self._get(identity)
                versions = dict(system.get("versions") or {}) | dict(firmware_versions)
                self._update(system, versions=versions)

            def set_power_state(self, identity, state):
                random_module = fakedriver.random
                fakedriver.random = _FirstChoice()
                try:
                    return super().set_power_state(identity, state)
                finally:
                    fakedriver.random = random_module

        if not getattr(fakedriver.FakeDriver, "prompt", False):
            PromptFakeDriver.prompt = True
            fakedriver.FakeDriver = PromptFakeDriver  # before the emulator's app is imported
        with warnings.catch_warnings():
            # webob (the emulator's auth) imports the cgi module, deprecated in Python 3.11
            warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning)
            from sushy_tools.emulator import main as emulator_main

        self.app = emulator_main.app
        self.app._cache = {}  # memoized drivers from an earlier run (other state dir)
        htpasswd = directory / "htpasswd"
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        htpasswd.write_text(f"{USER}:{hashed}\n")
        self.app.config.update(
            SUSHY_EMULATOR_FAKE_DRIVER=True,
            SUSHY_EMULATOR_STATE_DIR=str(directory / "state"),
            SUSHY_EMULATOR_FAKE_SYSTEMS=[
                {
                    "uuid": SYSTEM_UUID,
                    "name": "node-1",
                    "power_state": "On",
                    "external_notifier": False,
                    "nics": [{"mac": "00:5c:52:31:3a:9c", "ip": "172.22.0.100"}],
                }
            ],
        )
        if not hasattr(self.app, "_heatsite_basic_app"):
            self.app.configure(extra_config={"SUSHY_EMULATOR_AUTH_FILE": str(htpasswd)})
            self.app._heatsite_basic_app = self.app.wsgi_app
        else:  # the auth middleware from an earlier run: point it at this run's file
            self.app._heatsite_basic_app.auth_file = str(htpasswd)
        self.layer = SessionLayer(self.app._heatsite_basic_app, sessions=sessions)
        cert, key, self.fingerprint = make_certificate(directory, "emulator")
        self.cert_path = cert
        from werkzeug.serving import make_server

        self.server = make_server(
            "127.0.0.1", 0, self.layer, threaded=True, ssl_context=server_context(cert, key)
        )
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def systems(self):
        return self.app.systems

    def set_power(self, state: str) -> None:
        """Put the fake system in ``state`` ("On"/"Off") at once, nothing pending."""
        self.systems._update(SYSTEM_UUID, power_state=state, pending_power=None)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _FirstChoice:
    @staticmethod
    def randint(low, _high):
        return low


# --- sushy-static over the sushy samples ------------------------------------------------

SAMPLES = (
    "root.json",
    "system_collection.json",
    "system.json",
    "processor_collection.json",
    "processor.json",
    "processor2.json",
    "ethernet_interfaces_collection.json",
    "ethernet_interfaces.json",
    "chassis_collection.json",
    "chassis.json",
    "thermal.json",
    "power.json",
    "manager_collection.json",
    "manager.json",
    "session_service.json",
    "updateservice.json",
    "firmwareinventory_collection.json",
    "softwareinventory.json",
)
COLD_PLATE = "/redfish/v1/Chassis/ColdPlate1"
SYSTEM_PATH = "/redfish/v1/Systems/437XR1138R2"
BIOS_SAMPLES = {  # name -> (current settings, attribute registry, registry file)
    "p89": ("bios.json", "bios_attribute_registry.json", None),
    "zt": (
        "bios_zt.json",
        "bios_attribute_registry_zthardware.json",
        "bios_attribute_registry_file_zthardware.json",
    ),
}
BIOS_SETTINGS_ETAG = 'W/"settings-7"'
MANAGER_SEL = "/redfish/v1/Managers/BMC/LogServices/SEL"
SYSTEM_LOG = f"{SYSTEM_PATH}/LogServices/Log"


def _cold_plate_tree() -> dict[str, dict]:
    """A liquid-cooled chassis written from the Redfish schema (DSP2046 names and units)."""
    c = COLD_PLATE
    return {
        c: {
            "@odata.id": c,
            "@odata.type": "#Chassis.v1_25_0.Chassis",
            "Id": "ColdPlate1",
            "Name": "Cold plate chassis",
            "ChassisType": "RackMount",
            "Sensors": {"@odata.id": f"{c}/Sensors"},
            "EnvironmentMetrics": {"@odata.id": f"{c}/EnvironmentMetrics"},
            "ThermalSubsystem": {"@odata.id": f"{c}/ThermalSubsystem"},
        },
        f"{c}/Sensors": {
            "@odata.id": f"{c}/Sensors",
            "@odata.type": "#SensorCollection.SensorCollection",
            "Members": [
                {"@odata.id": f"{c}/Sensors/CPU0Temp"},
                {"@odata.id": f"{c}/Sensors/Fan0"},
                {"@odata.id": f"{c}/Sensors/Inlet"},
            ],
        },
        f"{c}/Sensors/Inlet": {  # no Status.Health: the thresholds decide
            "@odata.id": f"{c}/Sensors/Inlet",
            "@odata.type": "#Sensor.v1_7_0.Sensor",
            "Id": "Inlet",
            "Name": "Water inlet",
            "ReadingType": "Temperature",
            "ReadingUnits": "Cel",
            "Reading": 66.0,
            "Thresholds": {
                "UpperCaution": {"Reading": 65.0},
                "UpperCritical": {"Reading": 75.0},
            },
        },
        f"{c}/Sensors/CPU0Temp": {
            "@odata.id": f"{c}/Sensors/CPU0Temp",
            "@odata.type": "#Sensor.v1_7_0.Sensor",
            "Id": "CPU0Temp",
            "Name": "CPU0 temperature",
            "ReadingType": "Temperature",
            "ReadingUnits": "Cel",
            "Reading": 71.5,
            "Status": {"State": "Enabled", "Health": "Warning"},
        },
        f"{c}/Sensors/Fan0": {
            "@odata.id": f"{c}/Sensors/Fan0",
            "@odata.type": "#Sensor.v1_7_0.Sensor",
            "Id": "Fan0",
            "Name": "Fan 0",
            "ReadingType": "Rotational",
            "ReadingUnits": "RPM",
            "Reading": None,
            "Status": {"State": "Enabled", "Health": "OK"},
        },
        f"{c}/EnvironmentMetrics": {
            "@odata.id": f"{c}/EnvironmentMetrics",
            "@odata.type": "#EnvironmentMetrics.v1_3_0.EnvironmentMetrics",
            "Id": "EnvironmentMetrics",
            "Name": "Cold plate chassis environment",
            "PowerWatts": {"DataSourceUri": f"{c}/Sensors/Power", "Reading": 412.5},
        },
        f"{c}/ThermalSubsystem": {
            "@odata.id": f"{c}/ThermalSubsystem",
            "@odata.type": "#ThermalSubsystem.v1_3_0.ThermalSubsystem",
            "Id": "ThermalSubsystem",
            "Name": "Thermal subsystem",
            "CoolantConnectors": {"@odata.id": f"{c}/ThermalSubsystem/CoolantConnectors"},
        },
        f"{c}/ThermalSubsystem/CoolantConnectors": {
            "@odata.id": f"{c}/ThermalSubsystem/CoolantConnectors",
            "@odata.type": "#CoolantConnectorCollection.CoolantConnectorCollection",
            "Members": [{"@odata.id": f"{c}/ThermalSubsystem/CoolantConnectors/Loop1"}],
        },
        f"{c}/ThermalSubsystem/CoolantConnectors/Loop1": {
            "@odata.id": f"{c}/ThermalSubsystem/CoolantConnectors/Loop1",
            "@odata.type": "#CoolantConnector.v1_1_0.CoolantConnector",
            "Id": "Loop1",
            "Name": "Loop 1",
            "CoolantConnectorType": "Pair",
            "SupplyTemperatureCelsius": {"Reading": 42.0},
            "ReturnTemperatureCelsius": {"Reading": 55.5},
            "FlowLitersPerMinute": {"Reading": 3.2},
            "Status": {"State": "Enabled", "Health": "OK"},
        },
    }


def _bios_tree(samples, flavour: str) -> dict[str, dict]:
    """The system's ``Bios`` link served by one of sushy's BIOS samples, its attribute registry
    reachable through ``/redfish/v1/Registries`` (the P89 sample has no registry file: one is
    written here in the shape of sushy's ``bios_attribute_registry_file.json``)."""
    current_name, registry_name, file_name = BIOS_SAMPLES[flavour]
    current = json.loads((samples / current_name).read_text())
    registry = json.loads((samples / registry_name).read_text())
    tree = {f"{SYSTEM_PATH}/Bios": current, registry["@odata.id"]: registry}
    if file_name:
        registry_file = json.loads((samples / file_name).read_text())
        # its Location is "<id>.json"; sushy-static serves directories: point at the registry
        registry_file["Location"][0]["Uri"] = registry["@odata.id"]
    else:
        registry_file = {
            "@odata.id": f"/redfish/v1/Registries/{registry['Id']}",
            "@odata.type": "#MessageRegistryFile.v1_0_4.MessageRegistryFile",
            "Id": registry["Id"],
            "Name": f"{registry['Id']} Registry File",
            "Languages": ["en"],
            "Registry": registry["Id"],
            "Location": [{"Language": "en", "Uri": registry["@odata.id"]}],
        }
    tree[registry_file["@odata.id"]] = registry_file
    tree["/redfish/v1/Registries"] = {
        "@odata.id": "/redfish/v1/Registries",
        "@odata.type": "#MessageRegistryFileCollection.MessageRegistryFileCollection",
        "Name": "Registries",
        "Members": [  # a listed file that is missing, then the BIOS registry's
            {"@odata.id": "/redfish/v1/Registries/Base.1.0"},
            {"@odata.id": registry_file["@odata.id"]},
        ],
    }
    settings = current.get("@Redfish.Settings")
    if settings:
        pending = json.loads((samples / "bios_settings.json").read_text())
        pending["@odata.etag"] = BIOS_SETTINGS_ETAG
        tree[settings["SettingsObject"]["@odata.id"]] = pending
    return tree


def _log_tree() -> dict[str, dict]:
    """The manager's SEL and the system's log, written from the LogEntry schema (the sushy
    samples link ``LogServices`` but ship none): a chassis intrusion, a fan, an event-log
    entry with a MessageId, one without a zone in its time."""

    def service(path: str, name: str, entry_type: str) -> dict:
        return {
            "@odata.id": path,
            "@odata.type": "#LogService.v1_1_0.LogService",
            "Id": path.rsplit("/", 1)[1],
            "Name": name,
            "LogEntryType": entry_type,
            "Entries": {"@odata.id": f"{path}/Entries"},
        }

    def entry(log: str, number: int, **values) -> dict:
        return {
            "@odata.id": f"{log}/Entries/{number}",
            "@odata.type": "#LogEntry.v1_4_0.LogEntry",
            "Id": str(number),
            "Name": f"Log Entry {number}",
            **values,
        }

    sel = [
        entry(
            MANAGER_SEL,
            1,
            EntryType="SEL",
            Severity="OK",
            Created="2024-05-01T08:00:00Z",
            Message="Fan 1 speed normal",
            SensorType="Fan",
            EntryCode="Deassert",
        ),
        entry(
            MANAGER_SEL,
            2,
            EntryType="SEL",
            Severity="Critical",
            Created="2024-05-02T09:30:00+02:00",
            SensorType="Physical Chassis Security",
            Message="General chassis intrusion",
            EntryCode="Assert",
        ),
        entry(
            MANAGER_SEL,
            3,
            EntryType="SEL",
            Severity="Warning",
            Created="2024-05-03T10:00:00",
            Message="Time without a zone",
            SensorType="Temperature",
        ),
    ]
    events = [
        entry(
            SYSTEM_LOG,
            10,
            EntryType="Event",
            MessageSeverity="Warning",
            Created="2024-05-02T12:00:00Z",
            MessageId="Platform.1.0.PowerSupplyFailed",
            Message="Power supply 2 failed.",
        ),
    ]
    tree = {
        "/redfish/v1/Managers/BMC/LogServices": {
            "@odata.id": "/redfish/v1/Managers/BMC/LogServices",
            "@odata.type": "#LogServiceCollection.LogServiceCollection",
            "Members": [{"@odata.id": MANAGER_SEL}],
        },
        f"{SYSTEM_PATH}/LogServices": {
            "@odata.id": f"{SYSTEM_PATH}/LogServices",
            "@odata.type": "#LogServiceCollection.LogServiceCollection",
            "Members": [{"@odata.id": SYSTEM_LOG}],
        },
        MANAGER_SEL: service(MANAGER_SEL, "System Event Log", "SEL"),
        SYSTEM_LOG: service(SYSTEM_LOG, "Event Log", "Event"),
        f"{MANAGER_SEL}/Entries": {  # member links only, oldest first, in two pages
            "@odata.id": f"{MANAGER_SEL}/Entries",
            "@odata.type": "#LogEntryCollection.LogEntryCollection",
            "Members@odata.count": len(sel),
            "Members": [{"@odata.id": e["@odata.id"]} for e in sel[:2]],
            "Members@odata.nextLink": f"{MANAGER_SEL}/EntriesPage2",
        },
        f"{MANAGER_SEL}/EntriesPage2": {
            "@odata.id": f"{MANAGER_SEL}/Entries",
            "@odata.type": "#LogEntryCollection.LogEntryCollection",
            "Members@odata.count": len(sel),
            "Members": [{"@odata.id": e["@odata.id"]} for e in sel[2:]],
        },
        f"{SYSTEM_LOG}/Entries": {  # expanded inline
            "@odata.id": f"{SYSTEM_LOG}/Entries",
            "@odata.type": "#LogEntryCollection.LogEntryCollection",
            "Members": events,
        },
    }
    tree.update({e["@odata.id"]: e for e in sel})
    return tree


def build_sample_tree(
    directory: Path,
    *,
    cold_plate: bool = True,
    action_info: bool = False,
    bios: str = "p89",
    logs: bool = True,
) -> Path:
    """sushy's samples at their ``@odata.id`` (``<dir>/<path>/index.json``), arranged so the
    links resolve: the enclosure chassis that owns ``power.json`` and the firmware collection's
    member ``softwareinventory.json`` are linked; the collection's other members stay missing."""
    samples = importlib.resources.files("sushy") / "tests/unit/json_samples"
    tree: dict[str, dict] = {}
    for name in SAMPLES:
        body = json.loads((samples / name).read_text())
        tree.setdefault(body["@odata.id"].rstrip("/"), body)
    firmware = tree["/redfish/v1/UpdateService/FirmwareInventory"]
    firmware["Members"].insert(0, {"@odata.id": "/redfish/v1/UpdateService/FirmwareInventory/BMC"})
    tree["/redfish/v1/Chassis/MultiBladeEncl"] = {
        "@odata.id": "/redfish/v1/Chassis/MultiBladeEncl",
        "@odata.type": "#Chassis.v1_5_0.Chassis",
        "Id": "MultiBladeEncl",
        "Name": "Multi-blade enclosure",
        "ChassisType": "Enclosure",
        "Power": {"@odata.id": "/redfish/v1/Chassis/MultiBladeEncl/Power"},
    }
    if action_info:  # reset types through @Redfish.ActionInfo instead of allowable values
        system = tree["/redfish/v1/Systems/437XR1138R2"]
        reset = system["Actions"]["#ComputerSystem.Reset"]
        allowed = reset.pop("ResetType@Redfish.AllowableValues")
        info = "/redfish/v1/Systems/437XR1138R2/ResetActionInfo"
        reset["@Redfish.ActionInfo"] = info
        tree[info] = {
            "@odata.id": info,
            "@odata.type": "#ActionInfo.v1_1_2.ActionInfo",
            "Id": "ResetActionInfo",
            "Name": "Reset Action Info",
            "Parameters": [
                {
                    "Name": "ResetType",
                    "Required": True,
                    "DataType": "String",
                    "AllowableValues": [*allowed, "PowerCycle"],
                }
            ],
        }
    if bios:
        tree.update(_bios_tree(samples, bios))
    if logs:
        tree.update(_log_tree())
    if cold_plate:
        tree["/redfish/v1/Chassis"]["Members"].append({"@odata.id": COLD_PLATE})
        tree.update(_cold_plate_tree())
    root = directory / "tree"
    for path, body in tree.items():
        target = root / path.removeprefix("/redfish/v1").strip("/") / "index.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(body))
    return root


class StaticService(_Service):
    """sushy-static's request handler in-process over TLS, on a free port."""

    def __init__(self, directory: Path, **tree_options):
        from sushy_tools.static import main as static_main

        tree = str(build_sample_tree(directory, **tree_options))
        static_main.REDFISH_MOCKUP_FILES = tree
        self.writes: list[tuple[str, str, dict, dict]] = []  # method, path, headers, JSON body
        writes = self.writes

        class Quiet(static_main.RequestHandler):
            def _log_request(self, method):  # it prints every header; record writes instead
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length) if length > 0 else b""
                if method != "GET":
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    writes.append((method, self.path, headers, json.loads(body or b"{}")))

            def do_GET(self):
                # sushy-static serves one module-global tree: this server's, while it answers
                # (tests talk to one service at a time)
                static_main.REDFISH_MOCKUP_FILES = tree
                super().do_GET()

            def log_message(self, *args):
                pass

        cert, key, self.fingerprint = make_certificate(directory, "static")
        self.server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        self.server.daemon_threads = True
        self.server.socket = server_context(cert, key).wrap_socket(
            self.server.socket, server_side=True
        )
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
