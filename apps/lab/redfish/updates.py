"""The lab BMC's firmware updates: multipart push, tasks with progress, apply on reset.

A lab firmware image (`build_image`) is ``b"HSFW\\x01"``, a 4-byte big-endian manifest length,
the manifest (JSON: ``component`` BMC/BIOS/NIC/CPLD, ``version``, ``sku``, ``sha256`` of the
payload) and the payload. The BMC checks all of it; a good image is staged and takes a
configurable time (``update_seconds`` on the service clock) with task progress; it becomes the
running version at the next boot of the host (``@Redfish.OperationApplyTime`` OnReset), seen by
both faces and by what listens to the node's boots (its lab TPM measures the new BIOS release:
`apps.lab.bmc.events.HostState`). Task state is computed from the clock when read, so tests move
time, never wait. The SKU and release versions are the lab's (`apps.lab.firmware`).
"""

from __future__ import annotations

import dataclasses
import datetime
import email.parser
import email.policy
import hashlib
import json
import re
import struct
import threading
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from apps.lab.firmware import LAB_SKU
from apps.lab.redfish.http import Request, Response
from apps.lab.redfish.schema import (
    RedfishError,
    collection,
    link,
    not_in_list,
    resource,
    status,
)

MAGIC = b"HSFW\x01"
SKU = LAB_SKU
TASKS = "/redfish/v1/TaskService/Tasks"
MONITORS = "/redfish/v1/TaskService/TaskMonitors"
PUSH_URI = "/redfish/v1/UpdateService/upload"
INVENTORY = "/redfish/v1/UpdateService/FirmwareInventory"
VERSION_FORMATS = {
    "BMC": re.compile(r"^(\d{1,2})\.(\d{2})$"),
    "BIOS": re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$"),
    "NIC": re.compile(r"^\d+(\.\d+){1,3}$"),
    "CPLD": re.compile(r"^\d+(\.\d+){1,3}$"),
}
APPLY_TIMES = ("OnReset",)
TRANSFER_PROTOCOLS = ("HTTP", "HTTPS")
MANAGER_RESET_TYPES = ("GracefulRestart", "ForceRestart")
MAX_IMAGE = 8 * 1024 * 1024
FETCH_TIMEOUT = 60.0
SIMPLE_UPDATE = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"


def build_image(component: str, version: str, *, sku: str = SKU, payload: bytes = b"") -> bytes:
    """A lab firmware image (see module docstring)."""
    payload = payload or f"{component} firmware {version}".encode()
    manifest = json.dumps(
        {
            "component": component,
            "version": version,
            "sku": sku,
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
    ).encode()
    return MAGIC + struct.pack(">I", len(manifest)) + manifest + payload


class ImageRejected(ValueError):
    """The image is not one this BMC can apply (format, SKU, digest, component, version)."""


def check_image(data: bytes) -> dict:
    """The image's manifest, or `ImageRejected` saying why not."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise ImageRejected("not a Heatsite Lab firmware image")
    (size,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    try:
        manifest = json.loads(data[start : start + size])
    except (ValueError, UnicodeDecodeError):
        raise ImageRejected("the image manifest is unreadable") from None
    if not isinstance(manifest, dict):
        raise ImageRejected("the image manifest is unreadable")
    payload = data[start + size :]
    component, version = manifest.get("component"), manifest.get("version")
    if component not in VERSION_FORMATS:
        raise ImageRejected(f"unknown component {component!r}")
    match = VERSION_FORMATS[component].match(version) if isinstance(version, str) else None
    # the BIOS version travels in IPMI's one-byte auxiliary revision fields as well
    too_big = component == "BIOS" and match is not None and max(map(int, match.groups())) > 255
    if match is None or too_big:
        raise ImageRejected(f"bad {component} version {version!r}")
    if manifest.get("sku") != SKU:
        raise ImageRejected(f"image for SKU {manifest.get('sku')!r}, this node is {SKU}")
    if manifest.get("sha256") != hashlib.sha256(payload).hexdigest():
        raise ImageRejected("image digest mismatch (corrupted in transfer?)")
    return manifest


def install(bmc, component: str, version: str) -> None:
    """Make ``version`` the running firmware of ``component`` (lock held)."""
    if component == "BMC":
        major, minor = VERSION_FORMATS["BMC"].match(version).groups()
        bmc.firmware_major, bmc.firmware_minor = int(major), int(minor)
    elif component == "BIOS":
        bmc.set_bios_version(version, measures_differently=bmc.faults.measures_differently)
    elif component == "NIC":
        bmc.nic_firmware = version
    else:
        bmc.cpld_version = version


@dataclasses.dataclass
class UpdateTask:
    id: str
    started: float  # service clock
    created: datetime.datetime
    duration: float
    manifest: dict | None
    error: str | None = None
    stuck_at: int | None = None  # fault: progress stops here
    applied: bool = False
    monitor_done: int = 0  # how many times the monitor answered after completion
    fetched: threading.Event = dataclasses.field(default_factory=threading.Event)

    def finished(self, now: float) -> bool:
        if self.error is not None:
            return True
        if not self.fetched.is_set():
            return False
        return self.stuck_at is None and now - self.started >= self.duration

    def percent(self, now: float) -> int:
        if self.finished(now):
            return 100
        if not self.fetched.is_set():
            return 0
        done = int(100 * (now - self.started) / self.duration) if self.duration else 100
        return min(done, self.stuck_at if self.stuck_at is not None else 99)


def task_body(svc, task: UpdateTask) -> dict:
    now = svc.clock()
    finished = task.finished(now)
    if task.error is not None:
        state, task_status = "Exception", "Critical"
        messages = [_message("VerificationFailed", task.error, "Critical")]
    elif finished:
        state, task_status = "Completed", "OK"
        manifest = task.manifest
        text = (
            f"{manifest['component']} {manifest['version']} staged: it runs after the next "
            "reset of the system."
        )
        messages = [_message("AwaitToActivate", text, "OK")]
    else:
        state, task_status = "Running", None
        messages = [_message("UpdateInProgress", "An update is in progress.", "OK")]
    body = resource(
        "Task",
        f"{TASKS}/{task.id}",
        Id=task.id,
        Name=f"Firmware update task {task.id}",
        TaskState=state,
        PercentComplete=task.percent(now),
        StartTime=_iso(task.created),
        TaskMonitor=f"{MONITORS}/{task.id}",
        Messages=messages,
        HidePayload=True,
    )
    if task_status is not None:
        body["TaskStatus"] = task_status
    return body


def _message(message_id: str, text: str, severity: str) -> dict:
    return {
        "MessageId": f"Update.1.0.{message_id}",
        "Message": text,
        "Severity": severity,
        "MessageSeverity": severity,
    }


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_multipart(request: Request) -> tuple[dict, bytes]:
    """(UpdateParameters, UpdateFile bytes) of a multipart/form-data push."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise _bad(
            "The request must be multipart/form-data with UpdateParameters and UpdateFile.",
            "MissingOrMalformedPart",
        )
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    if not message.is_multipart():
        raise _bad("The multipart body could not be parsed.", "MissingOrMalformedPart")
    parts = {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
        for part in message.iter_parts()
    }
    if "UpdateFile" not in parts or parts["UpdateFile"] is None:
        raise _bad("The UpdateFile part is missing.", "PropertyMissing", "UpdateFile")
    try:
        parameters = json.loads(parts.get("UpdateParameters") or b"{}")
    except (ValueError, UnicodeDecodeError):
        parameters = None
    if not isinstance(parameters, dict):
        raise _bad("The UpdateParameters part is not a JSON object.", "MalformedJSON")
    return parameters, parts["UpdateFile"]


def _bad(text: str, message_id: str, *args: str) -> RedfishError:
    return RedfishError(400, message_id, text, *args)


class UpdateMixin:
    """Mixed into `RedfishService`: the update tasks of one BMC."""

    update_seconds: float = 30.0
    max_tasks: int = 32
    image_opener = staticmethod(urllib.request.urlopen)  # tests may swap it

    @property
    def boot_failed(self) -> bool:
        """The host hangs in POST (kept on the shared node: the IPMI face's boots see it)."""
        return self.bmc.host_hung

    def push_update(self, request: Request) -> Response:
        parameters, image = parse_multipart(request)
        targets = self._check_parameters(parameters)
        task = self._new_task()
        self._verify(task, image, targets)
        return self._accepted(task)

    def simple_update(self, body: dict) -> Response:
        """``UpdateService.SimpleUpdate``: the BMC pulls ``ImageURI`` (HTTP/HTTPS) itself."""
        action = "UpdateService.SimpleUpdate"
        uri = body.get("ImageURI")
        if not isinstance(uri, str) or not uri:
            raise RedfishError(
                400,
                "ActionParameterMissing",
                f"The action {action} requires the parameter ImageURI to be present in the "
                "request body.",
                action,
                "ImageURI",
            )
        scheme = urlsplit(uri).scheme.upper()
        protocol = body.get("TransferProtocol", scheme)
        if scheme not in TRANSFER_PROTOCOLS or protocol != scheme:
            raise not_in_list("TransferProtocol", protocol or scheme, action)
        unknown = set(body) - {"ImageURI", "TransferProtocol", "Targets", "ForceUpdate"}
        unknown.discard("@Redfish.OperationApplyTime")
        if unknown:
            name = sorted(unknown)[0]
            raise RedfishError(
                400,
                "ActionParameterUnknown",
                f"The action {action} was submitted with the invalid parameter {name}.",
                action,
                name,
            )
        targets = self._check_parameters(body)
        task = self._new_task(fetching=True)
        threading.Thread(
            target=self._fetch, args=(task, uri, targets), name="lab-redfish-fetch", daemon=True
        ).start()
        return self._accepted(task)

    def _fetch(self, task: UpdateTask, uri: str, targets: list) -> None:
        try:
            with self.image_opener(uri, timeout=FETCH_TIMEOUT) as answer:
                image = answer.read(MAX_IMAGE + 1)
            if len(image) > MAX_IMAGE:
                raise ImageRejected("the image is larger than MaxImageSizeBytes")
        except ImageRejected as exc:
            image, error = None, str(exc)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            image, error = None, f"could not download {uri}: {exc}"
        with self.bmc.lock:
            if image is None:
                task.error = error
            else:
                self._verify(task, image, targets)
            task.started = self.clock()
        task.fetched.set()

    def _check_parameters(self, parameters: dict) -> list:
        apply_time = parameters.get("@Redfish.OperationApplyTime", "OnReset")
        if apply_time not in APPLY_TIMES:
            raise RedfishError(
                400,
                "PropertyValueNotInList",
                f"The value '{apply_time}' for the property @Redfish.OperationApplyTime is not "
                "in the list of acceptable values.",
                str(apply_time),
                "@Redfish.OperationApplyTime",
            )
        targets = parameters.get("Targets", [])
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise RedfishError(
                400,
                "PropertyValueTypeError",
                "The value for the property Targets is not a type that the property can accept.",
                str(targets),
                "Targets",
            )
        return targets

    def _verify(self, task: UpdateTask, image: bytes, targets: list) -> None:
        manifest, error = None, None
        try:
            manifest = check_image(image)
        except ImageRejected as exc:
            error = str(exc)
        if manifest is not None and targets not in ([], [f"{INVENTORY}/{manifest['component']}"]):
            error = f"the image is {manifest['component']} firmware, not for {targets}"
            manifest = None
        if error is None and self.bmc.faults.image_rejected:
            error, manifest = "image rejected by the BMC (fault switch)", None
        task.manifest, task.error = manifest, error

    def _new_task(self, *, fetching: bool = False) -> UpdateTask:
        with self.bmc.lock:
            self._task_number += 1
            task = UpdateTask(
                id=str(self._task_number),
                started=self.clock(),
                created=datetime.datetime.now(datetime.UTC),
                duration=self.update_seconds,
                manifest=None,
                stuck_at=42 if self.bmc.faults.task_stuck else None,
            )
            if not fetching:
                task.fetched.set()
            self.tasks[task.id] = task
            while len(self.tasks) > self.max_tasks:
                self.tasks.pop(next(iter(self.tasks)))
        return task

    def _accepted(self, task: UpdateTask) -> Response:
        return Response(
            202,
            task_body(self, task),
            headers={"Location": f"{MONITORS}/{task.id}", "Retry-After": "5"},
        )

    def task_monitor(self, task_id: str) -> Response:
        task = self.tasks.get(task_id)
        gone = task is not None and self.bmc.faults.monitor_gone and task.finished(self.clock())
        if task is None or task.monitor_done or gone:
            raise RedfishError(
                404,
                "ResourceNotFound",
                f"The requested resource of type TaskMonitor named '{task_id}' was not found.",
                "TaskMonitor",
                task_id,
            )
        if not task.finished(self.clock()):
            return Response(202, task_body(self, task), headers={"Retry-After": "5"})
        task.monitor_done += 1  # like OpenBMC: the result once, then 404
        return Response(204)

    def _apply_updates(self) -> None:
        """Boot hook (lock held): completed, staged images become the running firmware."""
        now = self.clock()
        faults = self.bmc.faults
        activated = False
        for task in self.tasks.values():
            if task.manifest and not task.applied and task.finished(now) and task.error is None:
                if not faults.update_noop:  # the fault: "completed", version unchanged
                    install(self.bmc, task.manifest["component"], task.manifest["version"])
                task.applied = activated = True
                self.bmc.log_event(
                    "System Firmware Progress",
                    f"{task.manifest['component']} firmware {task.manifest['version']} activated",
                )
        self.bmc.host_hung = faults.no_boot_after_update and (activated or self.bmc.host_hung)
        if self.bmc.host_hung:
            self.bmc.log_event(
                "System Firmware Progress", "Host hung in POST after a firmware update", "Critical"
            )

    def reboot_bmc(self) -> None:
        """The BMC restarts: what it kept in memory (tasks, staged images, sessions) is gone."""
        with self.bmc.lock:
            self.tasks.clear()
            self.sessions.clear()
            self._tokens.clear()
            self.bmc.log_event("Management Subsystem Health", "BMC restarted")

    def reset_manager(self, body: dict) -> Response:
        reset_type = body.get("ResetType", "GracefulRestart")
        if reset_type not in MANAGER_RESET_TYPES:
            raise not_in_list("ResetType", reset_type, "Manager.Reset")
        self.reboot_bmc()
        return Response(204)


def simple_update_action_info(svc) -> dict:
    return resource(
        "ActionInfo",
        "/redfish/v1/UpdateService/SimpleUpdateActionInfo",
        Id="SimpleUpdateActionInfo",
        Name="Simple Update Action Info",
        Parameters=[
            {"Name": "ImageURI", "Required": True, "DataType": "String"},
            {
                "Name": "TransferProtocol",
                "Required": False,
                "DataType": "String",
                "AllowableValues": list(TRANSFER_PROTOCOLS),
            },
            {
                "Name": "Targets",
                "Required": False,
                "DataType": "StringArray",
                "AllowableValues": [f"{INVENTORY}/{name}" for name in VERSION_FORMATS],
            },
        ],
    )


def task_service(svc) -> dict:
    return resource(
        "TaskService",
        "/redfish/v1/TaskService",
        Id="TaskService",
        Name="Task Service",
        ServiceEnabled=True,
        CompletedTaskOverWritePolicy="Oldest",
        LifeCycleEventOnTaskStateChange=False,
        Tasks=link(TASKS),
        Status=status(),
    )


def tasks(svc) -> dict:
    members = [f"{TASKS}/{task_id}" for task_id in svc.tasks]
    return collection("TaskCollection", TASKS, "Tasks", members)
