"""One lab BMC's Redfish service: authentication, sessions, dispatch, and the writes.

Shares its state with the BMC's IPMI face through the same `LabBmc`: power actions go through
the node's power state machine, the boot override is the one IPMI reads, the password is the
one IPMI checks. What only Redfish has (sessions, BIOS settings) lives here. Requests arrive on
the Redfish loop thread; anything the IPMI thread also touches is read or written under
``bmc.lock``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import hmac
import json
import secrets
import time
from collections.abc import Callable

from apps.lab.bmc.node import CC_NOT_IN_STATE
from apps.lab.redfish import bios, chassis, protocol, resources, schema, updates
from apps.lab.redfish.bios import BIOS_DEFAULTS
from apps.lab.redfish.http import Request, Response
from apps.lab.redfish.resources import ACCOUNTS, BOOT_TARGETS, LOG, RESET_TYPES, SESSIONS, SYSTEM
from apps.lab.redfish.schema import RedfishError

ROUTES: dict[str, Callable] = {
    **resources.routes(None),
    **chassis.routes(None),
    "/redfish/v1/TaskService": updates.task_service,
    "/redfish/v1/UpdateService/SimpleUpdateActionInfo": updates.simple_update_action_info,
    updates.TASKS: updates.tasks,
}
PUBLIC = {"/redfish", resources.ROOT, "/redfish/v1/odata", "/redfish/v1/$metadata"}
RESET_ACTIONS = {  # Redfish ResetType -> the node's chassis control (as IPMI's)
    "On": "power_on",
    "ForceOff": "power_off",
    "GracefulShutdown": "power_shutdown",
    "ForceRestart": "power_reset",
    "GracefulRestart": "power_reset",
    "PowerCycle": "power_cycle",
    "Nmi": "pulse_diag",
}
SESSION_TIMEOUT_RANGE = (30, 86400)
PASSWORD_LENGTH = (8, 20)  # IPMI 2.0 keeps at most 20 bytes: the password serves both faces


@dataclasses.dataclass
class RedfishSession:
    id: str
    token: str
    username: str
    created: datetime.datetime
    last_used: float


class RedfishService(updates.UpdateMixin):
    """The Redfish face of one `LabBmc` (see module docstring)."""

    def __init__(
        self,
        bmc,
        *,
        clock: Callable[[], float] = time.monotonic,
        session_timeout: int = 1800,
        max_sessions: int = 16,
    ):
        self.bmc = bmc
        self.clock = clock
        self.session_timeout = session_timeout
        self.max_sessions = max_sessions
        self.sessions: dict[str, RedfishSession] = {}
        self._tokens: dict[str, RedfishSession] = {}
        self.bios_current: dict = dict(BIOS_DEFAULTS)
        self.bios_pending: dict = {}
        self.bios_applied: datetime.datetime | None = None
        self.requests = 0
        self.tasks: dict[str, updates.UpdateTask] = {}
        self._task_number = 0
        bmc.boot_hooks.append(self._apply_bios)
        bmc.boot_hooks.append(self._apply_updates)

    # --- entry point -------------------------------------------------------------------

    def gate(self) -> float | None:
        """The IPMI face's fault switches apply here too: ``unreachable`` swallows requests
        (None), ``slow_ms`` delays each answer (seconds)."""
        faults = self.bmc.faults
        if faults.unreachable:
            return None
        return faults.slow_ms / 1000.0

    def handle(self, request: Request) -> Response:
        self.requests += 1
        try:
            protocol.check_request(request, multipart_paths=(updates.PUSH_URI,))
            response = self._dispatch(request)
            return protocol.decorate(response, allow=self._allowed(request.path))
        except RedfishError as exc:
            return exc.response()

    def _dispatch(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path == "/redfish/v1":
            path = resources.ROOT
        method = request.method
        expand = _expand_levels(request.query.get("$expand"))
        unsupported = [
            q
            for q in request.query
            if (q.startswith("$") and q != "$expand") or q in ("only", "excerpt")
        ]
        if unsupported or (expand and method not in ("GET", "HEAD")):
            raise RedfishError(
                501, "QueryNotSupported", "Querying is not supported by the implementation."
            )
        if path == "/redfish" and method in ("GET", "HEAD"):
            return Response(200, {"v1": resources.ROOT})
        if path == "/redfish/v1/$metadata" and method in ("GET", "HEAD"):
            return Response(200, schema.metadata(), content_type="application/xml")
        if path == "/redfish/v1/odata" and method in ("GET", "HEAD"):
            return Response(200, resources.odata_document(self))
        if path == resources.ROOT and method in ("GET", "HEAD"):
            return Response(200, resources.service_root(self))
        if path in (SESSIONS, f"{SESSIONS}/Members") and method == "POST":
            return self._login(request)  # POST to a collection's Members is POST to it
        if path in PUBLIC:
            raise schema.not_allowed(method, path, "GET, HEAD")
        self._authenticate(request)
        if path == updates.PUSH_URI and method == "POST":
            return self.push_update(request)
        if path.startswith(updates.MONITORS + "/") and method in ("GET", "HEAD"):
            return self.task_monitor(path.rsplit("/", 1)[1])
        if method in ("GET", "HEAD") and ("POST", path) in WRITES and path not in ROUTES:
            raise schema.not_allowed(method, path, "POST")  # an action's target
        if method in ("GET", "HEAD"):
            body = self._get(path)
            etag = {"ETag": body["@odata.etag"]} if "@odata.etag" in body else {}
            return Response(200, self._expand(body) if expand else body, headers=etag)
        handler = WRITES.get((method, path))
        if handler is None and method == "DELETE" and path.startswith(SESSIONS + "/"):
            return self._logout(path.rsplit("/", 1)[1])
        if handler is None:
            self._get(path)  # 404 for an unknown resource, else 405
            raise schema.not_allowed(method, path, self._allowed(path))
        if path == bios.SETTINGS:
            bios.check_if_match(self, request.headers.get("if-match"))
        if method == "PATCH":
            protocol.check_if_match(request, self._get(path))
        return handler(self, _json_body(request))

    def _allowed(self, path: str) -> str:
        """The methods a resource takes: its ``Allow`` header on GET and on a 405."""
        path = path.rstrip("/")
        allowed = ["GET", "HEAD"] + [m for (m, p) in WRITES if p == path]
        if path == SESSIONS:
            allowed.append("POST")
        if path.startswith(SESSIONS + "/"):
            allowed.append("DELETE")
        return ", ".join(allowed)

    def _get(self, path: str) -> dict:
        builder = ROUTES.get(path)
        if builder is not None:
            return builder(self)
        parent, _, leaf = path.rpartition("/")
        if parent == SESSIONS:
            self._expire()
            if leaf in self.sessions:
                return resources.session(self, self.sessions[leaf])
        if parent == updates.TASKS and leaf in self.tasks:
            return updates.task_body(self, self.tasks[leaf])
        if parent == f"{LOG}/Entries":
            with self.bmc.lock:
                event = next((e for e in self.bmc.events if str(e["id"]) == leaf), None)
            if event is not None:
                return resources.log_entry(self, event)
        raise schema.not_found(path)

    def _expand(self, body: dict) -> dict:
        """``$expand=.``, one level: collection members and subordinate resources (not
        ``Links``) are inlined; a reference that does not resolve stays a reference."""

        def inline(value):
            if isinstance(value, dict) and set(value) == {"@odata.id"}:
                try:
                    return self._get(value["@odata.id"].rstrip("/"))
                except RedfishError:
                    return value
            return value

        out = {}
        for key, value in body.items():
            if key in ("Links", "Actions", "Oem") or key.startswith("@"):
                out[key] = value
            elif key == "Members" and isinstance(value, list):
                out[key] = [inline(member) for member in value]
            else:
                out[key] = inline(value)
        return out

    # --- authentication ----------------------------------------------------------------

    def _check_password(self, username: str, password: str) -> bool:
        expected = self.bmc.password_for(username)
        return expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), password.encode("utf-8")
        )

    def _authenticate(self, request: Request) -> None:
        token = request.headers.get("x-auth-token")
        if token:
            self._expire()
            sess = self._tokens.get(token)
            if sess is not None:
                sess.last_used = self.clock()
                return
        else:
            header = request.headers.get("authorization", "")
            scheme, _, encoded = header.partition(" ")
            if scheme.lower() == "basic":
                try:
                    user, _, password = (
                        base64.b64decode(encoded, validate=True).decode().partition(":")
                    )
                except (binascii.Error, UnicodeDecodeError):
                    user, password = "", ""
                if user and self._check_password(user, password):
                    return
        raise RedfishError(
            401,
            "NoValidSession",
            "There is no valid session established with the implementation.",
            headers={"WWW-Authenticate": 'Basic realm="Heatsite Lab BMC"'},
        )

    def _expire(self) -> None:
        now = self.clock()
        for sess in list(self.sessions.values()):
            if now - sess.last_used > self.session_timeout:
                self._drop(sess)

    def _drop(self, sess: RedfishSession) -> None:
        self.sessions.pop(sess.id, None)
        self._tokens.pop(sess.token, None)

    def _login(self, request: Request) -> Response:
        body = _json_body(request)
        for prop in ("UserName", "Password"):
            if prop not in body:
                raise RedfishError(
                    400,
                    "PropertyMissing",
                    f"The property {prop} is a required property and "
                    "must be included in the request.",
                    prop,
                )
            if not isinstance(body[prop], str):
                raise schema.type_error(prop, body[prop])
        if not self._check_password(body["UserName"], body["Password"]):
            raise RedfishError(
                401,
                "NoValidSession",
                "There is no valid session established with the implementation.",
            )
        self._expire()
        if self.bmc.faults.sessions_full or len(self.sessions) >= self.max_sessions:
            raise RedfishError(
                503,
                "SessionLimitExceeded",
                "The session establishment failed due to the number of simultaneous sessions "
                "exceeding the limit of the implementation.",
                headers={"Retry-After": "30"},
            )
        sess = RedfishSession(
            id=secrets.token_hex(8),
            token=secrets.token_urlsafe(32),
            username=body["UserName"],
            created=datetime.datetime.now(datetime.UTC),
            last_used=self.clock(),
        )
        self.sessions[sess.id] = sess
        self._tokens[sess.token] = sess
        location = f"{SESSIONS}/{sess.id}"
        return Response(
            201,
            resources.session(self, sess),
            headers={"X-Auth-Token": sess.token, "Location": location},
        )

    def _logout(self, session_id: str) -> Response:
        sess = self.sessions.get(session_id)
        if sess is None:
            raise schema.not_found(f"{SESSIONS}/{session_id}")
        self._drop(sess)
        return Response(204)

    # --- state shown by several resources -----------------------------------------------

    def power_state(self) -> str:
        with self.bmc.lock:
            state, pending = self.bmc.powerstate, self.bmc.pending_power
        if pending == "off" and state == "on":
            return "PoweringOff"
        if pending == "on" and state == "off":
            return "PoweringOn"
        return "On" if state == "on" else "Off"

    def _apply_bios(self) -> None:
        """Boot hook (lab loop thread, lock held): pending BIOS settings become current."""
        if self.bios_pending:
            self.bios_current.update(self.bios_pending)
            self.bios_pending = {}
            self.bios_applied = datetime.datetime.now(datetime.UTC)
            self.bmc.log_event("System Firmware Progress", "BIOS settings applied at boot")

    # --- writes ------------------------------------------------------------------------

    def reset(self, body: dict) -> Response:
        action = "ComputerSystem.Reset"
        if "ResetType" not in body:
            raise RedfishError(
                400,
                "ActionParameterMissing",
                f"The action {action} requires the parameter "
                "ResetType to be present in the request body.",
                action,
                "ResetType",
            )
        for name in body:
            if name != "ResetType":
                raise RedfishError(
                    400,
                    "ActionParameterUnknown",
                    f"The action {action} was submitted with the invalid parameter {name}.",
                    action,
                    name,
                )
        reset_type = body["ResetType"]
        if reset_type not in RESET_TYPES:
            raise schema.not_in_list("ResetType", reset_type, action)
        with self.bmc.lock:
            code = getattr(self.bmc, RESET_ACTIONS[reset_type])()
        if code == CC_NOT_IN_STATE:
            raise RedfishError(
                409,
                "ChassisPowerStateOnRequired",
                "The Chassis with Id '1' requires to be powered on to perform this request.",
                "1",
            )
        return Response(204)

    def patch_system(self, body: dict) -> Response:
        for name in body:
            if name != "Boot":
                raise _unknown_or_readonly(name, resources.system(self))
        boot = body.get("Boot")
        if not isinstance(boot, dict):
            raise schema.type_error("Boot", boot)
        allowed = {
            "BootSourceOverrideTarget": tuple(BOOT_TARGETS),
            "BootSourceOverrideEnabled": ("Once", "Continuous", "Disabled"),
            "BootSourceOverrideMode": ("UEFI", "Legacy"),
        }
        for name, value in boot.items():
            if name not in allowed:
                raise schema.unknown_property(f"Boot/{name}")
            if value not in allowed[name]:
                raise schema.not_in_list(f"Boot/{name}", value)
        with self.bmc.lock:
            current = resources.boot(self)
            target = boot.get("BootSourceOverrideTarget", current["BootSourceOverrideTarget"])
            enabled = boot.get("BootSourceOverrideEnabled")
            if enabled is None:
                # naming a target without saying for how long means "next boot only"
                was = current["BootSourceOverrideEnabled"]
                enabled = "Once" if was == "Disabled" else was
            mode = boot.get("BootSourceOverrideMode", current["BootSourceOverrideMode"])
            if target == "None" or enabled == "Disabled":
                self.bmc.boot = {"device": "default", "persistent": False, "uefi": False}
            else:
                self.bmc.boot = {
                    "device": BOOT_TARGETS[target],
                    "persistent": enabled == "Continuous",
                    "uefi": mode == "UEFI",
                }
        return Response(200, resources.system(self))

    def patch_bios_settings(self, body: dict) -> Response:
        for name in body:
            if name not in ("Attributes", "@Redfish.SettingsApplyTime"):
                raise _unknown_or_readonly(name, bios.bios_settings(self))
        if "@Redfish.SettingsApplyTime" in body:
            bios.check_apply_time(body["@Redfish.SettingsApplyTime"])
        attributes = body.get("Attributes")
        if not isinstance(attributes, dict):
            raise schema.type_error("Attributes", attributes)
        with self.bmc.lock:
            bios.check_attributes(attributes, self.bios_pending, self.bios_current)
            self.bios_pending.update(attributes)
        return Response(200, bios.bios_settings(self), headers={"ETag": bios.etag(self)})

    def reset_bios(self, body: dict) -> Response:
        with self.bmc.lock:
            self.bios_pending = {
                name: value
                for name, value in BIOS_DEFAULTS.items()
                if self.bios_current.get(name) != value
            }
        return Response(204)

    def patch_account(self, body: dict) -> Response:
        for name in body:
            if name != "Password":
                raise _unknown_or_readonly(name, resources.account(self))
        password = body.get("Password")
        if not isinstance(password, str):
            raise schema.type_error("Password", "(hidden)")
        low, high = PASSWORD_LENGTH
        if not low <= len(password.encode("utf-8")) <= high or not password.isprintable():
            raise RedfishError(
                400,
                "PropertyValueOutOfRange",
                f"The value for the property Password is not in the supported range of "
                f"acceptable values ({low} to {high} printable characters).",
                "(hidden)",
                "Password",
            )
        faults = self.bmc.faults
        if faults.password_refused:
            raise RedfishError(
                403,
                "InsufficientPrivilege",
                "There are insufficient privileges for the account or credentials associated "
                "with the current session to perform the requested operation.",
            )
        with self.bmc.lock:
            if not faults.password_ignored:
                self.bmc.authdata[self.bmc.username] = password
        return Response(200, resources.account(self))

    def patch_session_service(self, body: dict) -> Response:
        for name in body:
            if name != "SessionTimeout":
                raise _unknown_or_readonly(name, resources.session_service(self))
        value = body.get("SessionTimeout")
        if not isinstance(value, int) or isinstance(value, bool):
            raise schema.type_error("SessionTimeout", value)
        low, high = SESSION_TIMEOUT_RANGE
        if not low <= value <= high:
            raise RedfishError(
                400,
                "PropertyValueOutOfRange",
                f"The value '{value}' for the property "
                "SessionTimeout is not in the supported range of acceptable values.",
                str(value),
                "SessionTimeout",
            )
        self.session_timeout = value
        return Response(200, resources.session_service(self))

    def clear_log(self, body: dict) -> Response:
        self.bmc.clear_events()
        return Response(204)


def _expand_levels(values: list[str] | None) -> int:
    """The levels of a ``$expand`` the lab supports (``.`` or ``.($levels=1)``), 0 without one;
    anything else (``*``, ``~``, deeper levels) is refused as not supported."""
    if values is None:
        return 0
    if len(values) == 1 and values[0] in (".", ".($levels=1)"):
        return 1
    raise RedfishError(501, "QueryNotSupported", "Querying is not supported by the implementation.")


def _json_body(request: Request) -> dict:
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise RedfishError(
            400,
            "MalformedJSON",
            "The request body submitted was malformed JSON and could not "
            "be parsed by the receiving service.",
        )
    return body


def _unknown_or_readonly(name: str, current: dict) -> RedfishError:
    if name in current:
        return schema.not_writable(name)
    return schema.unknown_property(name)


WRITES: dict[tuple[str, str], Callable[[RedfishService, dict], Response]] = {
    ("POST", f"{SYSTEM}/Actions/ComputerSystem.Reset"): RedfishService.reset,
    ("POST", f"{SYSTEM}/Bios/Actions/Bios.ResetBios"): RedfishService.reset_bios,
    ("POST", f"{LOG}/Actions/LogService.ClearLog"): RedfishService.clear_log,
    ("POST", updates.SIMPLE_UPDATE): RedfishService.simple_update,
    ("POST", f"{chassis.MANAGER}/Actions/Manager.Reset"): RedfishService.reset_manager,
    ("PATCH", SYSTEM): RedfishService.patch_system,
    ("PATCH", f"{SYSTEM}/Bios/Settings"): RedfishService.patch_bios_settings,
    ("PATCH", f"{ACCOUNTS}/1"): RedfishService.patch_account,
    ("PATCH", "/redfish/v1/SessionService"): RedfishService.patch_session_service,
}
