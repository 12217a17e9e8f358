"""Firmware update primitives over Redfish: push, SimpleUpdate, and lossy task tracking.

``push`` sends the image to ``UpdateService.MultipartHttpPushUri`` (``UpdateParameters`` JSON
part with ``Targets`` and ``@Redfish.OperationApplyTime``, ``UpdateFile`` part); ``simple``
asks the BMC to pull ``ImageURI`` (``UpdateService.SimpleUpdate``). Both answer a `TaskRef`:
the task monitor (``Location``) and the task resource, whichever the BMC gave.

BMC task monitors are lossy, so `status` never takes one answer as the outcome: 202 (with
``Retry-After``) is running; 204 or 200 means the monitor is done, and the task resource, where
there is one, says how (``TaskStatus`` Critical or an ``Exception`` state is a failure); a
monitor and task that are gone (404 after completion, or forgotten by a BMC reboot) are
"gone": the caller decides by reading the versions back.
"""

from __future__ import annotations

import datetime
import email.utils
import json
from typing import Any
from urllib.parse import urlsplit

from sushy import exceptions as sushy_exc

from apps.hardware.drivers.base import BmcError, TaskRef, TaskStatus
from apps.hardware.drivers.redfish.readings import get_optional, link, root
from apps.hardware.drivers.redfish.transport import Client

APPLY_TIMES = ("Immediate", "OnReset")
UPLOAD_TIMEOUT = 300.0
MAX_RETRY_AFTER = 3600.0
RUNNING = {"New", "Starting", "Running", "Pending", "Suspended", "Stopping", "Service"}
FAILED = {"Exception", "Killed", "Cancelled", "Cancelling", "Interrupted"}


def check(targets: Any, apply_time: Any) -> list[str]:
    if apply_time not in APPLY_TIMES:
        raise BmcError("bad_request", f"The apply time is one of {', '.join(APPLY_TIMES)}.")
    if isinstance(targets, str) or not all(isinstance(t, str) and t for t in targets or ()):
        raise BmcError("bad_request", "Targets are Redfish paths (a list of strings).")
    return list(targets or ())


def _service(client: Client) -> dict[str, Any]:
    service = get_optional(client, link(root(client), "UpdateService"))
    if service is None:
        raise BmcError("not_supported", "The BMC has no UpdateService.")
    return service


def _ref(response) -> TaskRef:
    monitor = _local(response.headers.get("Location"))
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    task = ""
    if "Task." in str(body.get("@odata.type") or "") or "TaskState" in body:
        task = _local(body.get("@odata.id"))
        monitor = monitor or _local(body.get("TaskMonitor"))
    if monitor and not task and "/TaskService/Tasks/" in monitor:
        task = monitor  # a BMC (sushy-emulator) that points Location at the task itself
    return TaskRef(monitor=monitor, task=task)


def _local(uri: Any) -> str:
    """A path on this BMC; "" for anything else (Heatsite follows no link to elsewhere)."""
    if not isinstance(uri, str) or not uri:
        return ""
    parts = urlsplit(uri)
    if parts.scheme or parts.netloc:
        return ""
    return uri if uri.startswith("/") else ""


def push(
    client: Client, image: bytes, targets: list[str], apply_time: str, timeout: float
) -> TaskRef:
    if not isinstance(image, bytes | bytearray) or not image:
        raise BmcError("bad_request", "The firmware image is empty.")
    service = _service(client)
    uri = service.get("MultipartHttpPushUri")
    if not isinstance(uri, str) or not uri:
        raise BmcError("not_supported", "The BMC takes no multipart firmware push.")
    limit = service.get("MaxImageSizeBytes")
    if isinstance(limit, int) and len(image) > limit:
        raise BmcError(
            "bad_request", f"The image has {len(image)} bytes; the BMC takes at most {limit}."
        )
    parameters: dict[str, Any] = {"@Redfish.OperationApplyTime": apply_time}
    if targets:
        parameters["Targets"] = targets
    files = {
        "UpdateParameters": (None, json.dumps(parameters), "application/json"),
        "UpdateFile": ("image.bin", bytes(image), "application/octet-stream"),
    }
    response = client.connector.post(
        uri, data=None, files=files, timeout=max(timeout, UPLOAD_TIMEOUT)
    )
    return _ref(response)


def simple(client: Client, image_uri: str, targets: list[str], apply_time: str) -> TaskRef:
    scheme = urlsplit(image_uri).scheme.upper() if isinstance(image_uri, str) else ""
    if not scheme or not urlsplit(image_uri).netloc:
        raise BmcError("bad_request", "The image URI is an absolute URL the BMC can fetch.")
    action = ((_service(client).get("Actions") or {}).get("#UpdateService.SimpleUpdate")) or {}
    target = action.get("target")
    if not target:
        raise BmcError("not_supported", "The BMC offers no UpdateService.SimpleUpdate.")
    data: dict[str, Any] = {"ImageURI": image_uri, "@Redfish.OperationApplyTime": apply_time}
    protocols = action.get("TransferProtocol@Redfish.AllowableValues")
    if isinstance(protocols, list):
        if scheme not in protocols:
            raise BmcError(
                "not_supported",
                f"The BMC fetches images over {', '.join(map(str, protocols))}, not {scheme}.",
            )
        data["TransferProtocol"] = scheme
    if targets:
        data["Targets"] = targets
    return _ref(client.connector.post(target, data=data))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = (moment - datetime.datetime.now(datetime.UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _messages(body: dict[str, Any]) -> str:
    texts = [
        str(m.get("Message")).strip()
        for m in body.get("Messages") or []
        if isinstance(m, dict) and m.get("Message")
    ]
    return " ".join(texts)


def _percent(body: dict[str, Any]) -> int | None:
    value = body.get("PercentComplete")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _from_task(body: dict[str, Any], retry_after: float | None = None) -> TaskStatus:
    state = str(body.get("TaskState") or "")
    task_status = str(body.get("TaskStatus") or "")
    if state in FAILED or (state == "Completed" and task_status == "Critical"):
        name = "failed"
    elif state == "Completed":
        name = "completed"
    elif state in RUNNING:
        name = "running"
    else:
        raise BmcError("protocol", f"The BMC reports the task state {state!r}.")
    return TaskStatus(
        state=name,  # type: ignore[arg-type]
        percent=_percent(body),
        retry_after=retry_after if name == "running" else None,
        message=_messages(body),
        bmc_state=state,
        bmc_status=task_status,
    )


def _get(client: Client, path: str):
    """The response, or None when the BMC no longer has ``path`` (404/410)."""
    try:
        return client.connector.get(path)
    except sushy_exc.HTTPError as exc:
        if exc.status_code in (404, 410):
            return None
        raise


def _json(response) -> dict[str, Any]:
    try:
        body = response.json() if response.content else {}
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def status(client: Client, ref: TaskRef) -> TaskStatus:
    monitor_done = False
    if ref.monitor:
        response = _get(client, ref.monitor)
        if response is not None:
            body = _json(response)
            hint = _retry_after(response.headers.get("Retry-After"))
            if response.status_code == 202:
                running = _from_task(body, hint) if "TaskState" in body else None
                if running is None or running.state == "running":
                    return TaskStatus(
                        state="running",
                        percent=running.percent if running else None,
                        retry_after=hint,
                        message=running.message if running else "",
                        bmc_state=running.bmc_state if running else "",
                    )
            if "TaskState" in body:
                found = _from_task(body, hint)
                if found.state != "completed" or not ref.task or ref.task == ref.monitor:
                    return found
            monitor_done = True
    if ref.task and ref.task != ref.monitor:
        response = _get(client, ref.task)
        if response is not None:
            return _from_task(_json(response), _retry_after(response.headers.get("Retry-After")))
    if monitor_done:
        return TaskStatus(state="completed", message="The BMC's task monitor reports it done.")
    return TaskStatus(
        state="gone",
        message="The BMC no longer knows the task; read the firmware versions to decide.",
    )
