"""Firmware updates on the lab's Redfish face: multipart push, task progress on the service
clock, checks of format/SKU/digest/target, activation at the next boot seen by both faces."""

import http.server
import json
import socket
import threading

import pytest

from apps.hardware.drivers import driver_for
from apps.lab.bmc import LabBmcServer
from apps.lab.redfish.updates import build_image
from tests.lab.redfish_client import Client, message_id

UPLOAD = "/redfish/v1/UpdateService/upload"
INVENTORY = "/redfish/v1/UpdateService/FirmwareInventory"


@pytest.fixture
def client(dual_lab):
    c = Client(dual_lab.redfish.endpoint(0))
    yield c
    c.close()


def push(client, image, **parameters):
    files = {
        "UpdateParameters": (None, json.dumps(parameters), "application/json"),
        "UpdateFile": ("image.hsfw", image, "application/octet-stream"),
    }
    return client.request("POST", UPLOAD, files=files)


def finish(dual_lab, clock):
    clock.advance(dual_lab.redfish.service(0).update_seconds)


def test_a_pushed_bmc_image_runs_after_the_next_reset_on_both_faces(
    dual_lab, client, lab_redfish_clock
):
    assert client.json("/redfish/v1/UpdateService")["MultipartHttpPushUri"] == UPLOAD
    response = push(client, build_image("BMC", "2.42"), Targets=[f"{INVENTORY}/BMC"])
    assert response.status_code == 202
    monitor = response.headers["Location"]
    task = response.json()
    assert (task["TaskState"], task["PercentComplete"]) == ("Running", 0)
    running = client.get(monitor)
    assert running.status_code == 202 and int(running.headers["Retry-After"]) > 0
    lab_redfish_clock.advance(dual_lab.redfish.service(0).update_seconds / 2)
    assert client.json(task["@odata.id"])["PercentComplete"] == 50
    finish(dual_lab, lab_redfish_clock)
    assert client.get(monitor).status_code == 204  # the result once...
    assert client.get(monitor).status_code == 404  # ...then forgotten, as OpenBMC does
    done = client.json(task["@odata.id"])
    assert (done["TaskState"], done["TaskStatus"], done["PercentComplete"]) == (
        "Completed",
        "OK",
        100,
    )
    assert done["Messages"][0]["MessageId"].endswith("AwaitToActivate")
    # staged, not running yet
    assert client.json(f"{INVENTORY}/BMC")["Version"] == "2.41"
    ipmi = driver_for(dual_lab.ipmi.endpoint(0))
    assert {f.component: f.version for f in ipmi.firmware()}["BMC Version"] == "2.41"
    assert client.reset("ForceRestart").status_code == 204
    assert client.json(f"{INVENTORY}/BMC")["Version"] == "2.42"
    assert client.json("/redfish/v1/Managers/1")["FirmwareVersion"] == "2.42"
    assert {f.component: f.version for f in ipmi.firmware()}["BMC Version"] == "2.42"


def test_a_bios_image_activates_on_a_power_cycle_over_ipmi(dual_lab, client, lab_redfish_clock):
    assert push(client, build_image("BIOS", "1.8.0")).status_code == 202
    finish(dual_lab, lab_redfish_clock)
    driver_for(dual_lab.ipmi.endpoint(0)).power("cycle")
    assert client.json("/redfish/v1/Systems/1")["BiosVersion"] == "1.8.0"
    assert client.json(f"{INVENTORY}/BIOS")["Version"] == "1.8.0"
    entries = client.json("/redfish/v1/Managers/1/LogServices/SEL/Entries")["Members"]
    last = client.json(entries[-1]["@odata.id"])
    assert "BIOS firmware 1.8.0 activated" in last["Message"]


def test_a_reset_before_the_task_completes_activates_nothing(dual_lab, client, lab_redfish_clock):
    task = push(client, build_image("NIC", "22.40.1000")).json()
    client.reset("ForceRestart")
    assert client.json(f"{INVENTORY}/NIC")["Version"] == "22.31.1014"
    finish(dual_lab, lab_redfish_clock)
    assert client.json(task["@odata.id"])["TaskState"] == "Completed"
    client.reset("ForceRestart")
    assert client.json(f"{INVENTORY}/NIC")["Version"] == "22.40.1000"


def corrupted():
    image = bytearray(build_image("CPLD", "1.1.0"))
    image[-1] ^= 0xFF
    return bytes(image)


@pytest.mark.parametrize(
    ("image", "targets", "reason"),
    [
        (b"MZ\x90\x00 not firmware", [], "not a Heatsite Lab firmware image"),
        (build_image("BIOS", "1.8.0", sku="HX-900-AIR"), [], "SKU"),
        (corrupted(), [], "digest mismatch"),
        (build_image("BIOS", "1.8.0"), [f"{INVENTORY}/BMC"], "not for"),
        (build_image("BMC", "two.42"), [], "bad BMC version"),
    ],
)
def test_bad_images_fail_their_task_and_change_nothing(
    dual_lab, client, lab_redfish_clock, image, targets, reason
):
    response = push(client, image, Targets=targets)
    assert response.status_code == 202
    task = response.json()
    assert (task["TaskState"], task["TaskStatus"]) == ("Exception", "Critical")
    assert reason in task["Messages"][0]["Message"]
    assert task["Messages"][0]["MessageId"].endswith("VerificationFailed")
    finish(dual_lab, lab_redfish_clock)
    client.reset("ForceRestart")
    versions = {
        name: client.json(f"{INVENTORY}/{name}")["Version"] for name in ("BMC", "BIOS", "CPLD")
    }
    assert versions == {"BMC": "2.41", "BIOS": "1.4.0", "CPLD": "1.0.4"}


def test_fault_switches_reject_images_and_stick_tasks(dual_lab, client, lab_redfish_clock):
    faults = dual_lab.bmc(0).faults
    faults.image_rejected = True
    rejected = push(client, build_image("CPLD", "1.1.0")).json()
    assert rejected["TaskState"] == "Exception"
    faults.image_rejected, faults.task_stuck = False, True
    stuck = push(client, build_image("CPLD", "1.1.0")).json()
    lab_redfish_clock.advance(100 * dual_lab.redfish.service(0).update_seconds)
    body = client.json(stuck["@odata.id"])
    assert (body["TaskState"], body["PercentComplete"]) == ("Running", 42)
    assert client.get(stuck["TaskMonitor"]).status_code == 202
    client.reset("ForceRestart")
    assert client.json(f"{INVENTORY}/CPLD")["Version"] == "1.0.4"


def test_malformed_pushes_are_refused_with_the_standard_error_body(client):
    not_multipart = client.request(
        "POST", UPLOAD, data=b"{}", headers={"Content-Type": "application/json"}
    )
    assert not_multipart.status_code == 400
    no_file = client.request(
        "POST", UPLOAD, files={"UpdateParameters": (None, "{}", "application/json")}
    )
    assert (no_file.status_code, message_id(no_file)) == (400, "PropertyMissing")
    immediate = push(
        client, build_image("BMC", "2.42"), **{"@Redfish.OperationApplyTime": "Immediate"}
    )
    assert (immediate.status_code, message_id(immediate)) == (400, "PropertyValueNotInList")
    assert client.json("/redfish/v1/TaskService/Tasks")["Members"] == []


# --- SimpleUpdate: the BMC pulls the image -----------------------------------------------------

SIMPLE_UPDATE = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"


@pytest.fixture
def image_server():
    """Serves ``images[path]`` over HTTP on loopback (as Heatsite serves images); records GETs."""
    images, requested = {}, []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requested.append(self.path)
            data = images.get(self.path)
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.images, server.requested = images, requested
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def pulled(dual_lab, response):
    """The task once the BMC has finished downloading (bounded: a stuck download fails)."""
    task = dual_lab.redfish.service(0).tasks[response.json()["Id"]]
    assert task.fetched.wait(60)
    return task


def test_simple_update_pulls_the_image_and_activates_it_on_reset(
    dual_lab, client, image_server, lab_redfish_clock
):
    image_server.images["/images/bios-1.8.0.hsfw"] = build_image("BIOS", "1.8.0")
    action = client.json("/redfish/v1/UpdateService")["Actions"]["#UpdateService.SimpleUpdate"]
    assert action["target"] == SIMPLE_UPDATE
    info = client.json(action["@Redfish.ActionInfo"])
    assert {p["Name"] for p in info["Parameters"]} == {"ImageURI", "TransferProtocol", "Targets"}
    response = client.post(
        SIMPLE_UPDATE,
        {
            "ImageURI": f"{image_server.url}/images/bios-1.8.0.hsfw",
            "TransferProtocol": "HTTP",
            "Targets": [f"{INVENTORY}/BIOS"],
        },
    )
    assert response.status_code == 202
    pulled(dual_lab, response)
    assert image_server.requested == ["/images/bios-1.8.0.hsfw"]
    assert client.json(response.json()["@odata.id"])["TaskState"] == "Running"
    finish(dual_lab, lab_redfish_clock)
    assert client.json(response.json()["@odata.id"])["TaskState"] == "Completed"
    client.reset("ForceRestart")
    assert client.json("/redfish/v1/Systems/1")["BiosVersion"] == "1.8.0"


def test_an_image_that_cannot_be_downloaded_fails_the_task(dual_lab, client, image_server):
    response = client.post(SIMPLE_UPDATE, {"ImageURI": f"{image_server.url}/gone.hsfw"})
    assert response.status_code == 202
    pulled(dual_lab, response)
    task = client.json(response.json()["@odata.id"])
    assert (task["TaskState"], task["TaskStatus"]) == ("Exception", "Critical")
    assert "could not download" in task["Messages"][0]["Message"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "ActionParameterMissing"),
        ({"ImageURI": "ftp://127.0.0.1/bios.hsfw"}, "ActionParameterValueNotInList"),
        (
            {"ImageURI": "http://127.0.0.1/b.hsfw", "TransferProtocol": "HTTPS"},
            "ActionParameterValueNotInList",
        ),
        ({"ImageURI": "http://127.0.0.1/b.hsfw", "Color": "red"}, "ActionParameterUnknown"),
    ],
)
def test_bad_simple_updates_are_refused(client, body, expected):
    response = client.post(SIMPLE_UPDATE, body)
    assert (response.status_code, message_id(response)) == (400, expected)
    assert client.json("/redfish/v1/TaskService/Tasks")["Members"] == []


# --- how real BMCs lose or misreport updates (fault switches) ----------------------------------


def test_a_bmc_reboot_mid_update_forgets_the_task_and_the_sessions(
    dual_lab, client, lab_redfish_clock
):
    anonymous = Client(dual_lab.redfish.endpoint(0), auth=False)
    login = anonymous.post(
        "/redfish/v1/SessionService/Sessions", {"UserName": "admin", "Password": "password"}
    )
    token = {"X-Auth-Token": login.headers["X-Auth-Token"]}
    task = push(client, build_image("BMC", "2.42")).json()
    manager = client.json("/redfish/v1/Managers/1")
    reset = manager["Actions"]["#Manager.Reset"]
    assert client.post(reset["target"], {"ResetType": "GracefulRestart"}).status_code == 204
    assert client.get(task["TaskMonitor"]).status_code == 404
    assert client.get(task["@odata.id"]).status_code == 404
    assert anonymous.get("/redfish/v1/Systems/1", headers=token).status_code == 401
    finish(dual_lab, lab_redfish_clock)
    client.reset("ForceRestart")
    assert client.json(f"{INVENTORY}/BMC")["Version"] == "2.41"  # the staged image is gone
    anonymous.close()


def test_a_task_monitor_can_vanish_as_soon_as_the_task_completes(
    dual_lab, client, lab_redfish_clock
):
    dual_lab.bmc(0).faults.monitor_gone = True
    task = push(client, build_image("CPLD", "1.1.0")).json()
    assert client.get(task["TaskMonitor"]).status_code == 202
    finish(dual_lab, lab_redfish_clock)
    assert client.get(task["TaskMonitor"]).status_code == 404  # no 204 ever
    assert client.json(task["@odata.id"])["TaskState"] == "Completed"


def test_a_completed_update_can_leave_the_version_unchanged(dual_lab, client, lab_redfish_clock):
    dual_lab.bmc(0).faults.update_noop = True
    task = push(client, build_image("BIOS", "1.8.0")).json()
    finish(dual_lab, lab_redfish_clock)
    client.reset("ForceRestart")
    assert client.json(task["@odata.id"])["TaskStatus"] == "OK"
    assert client.json("/redfish/v1/Systems/1")["BiosVersion"] == "1.4.0"  # read it back!


def test_a_node_can_hang_in_post_after_an_update(dual_lab, client, lab_redfish_clock):
    assert client.json("/redfish/v1/Systems/1")["BootProgress"]["LastState"] == "OSRunning"
    dual_lab.bmc(0).faults.no_boot_after_update = True
    push(client, build_image("BIOS", "1.8.0"))
    finish(dual_lab, lab_redfish_clock)
    client.reset("ForceRestart")
    system = client.json("/redfish/v1/Systems/1")
    assert system["BootProgress"]["LastState"] == "PCIResourceConfigStarted"
    assert system["Status"]["Health"] == "Critical"
    client.reset("ForceRestart")  # still hung while the fault holds
    assert client.json("/redfish/v1/Systems/1")["Status"]["Health"] == "Critical"
    dual_lab.bmc(0).faults.no_boot_after_update = False
    client.reset("ForceRestart")
    assert client.json("/redfish/v1/Systems/1")["BootProgress"]["LastState"] == "OSRunning"


def test_the_update_duration_is_configurable(make_dual_lab, tmp_path):
    from apps.lab.bmc import cli

    lab = make_dual_lab(count=1, redfish_options={"update_seconds": 0})
    client = Client(lab.redfish.endpoint(0))
    task = push(client, build_image("CPLD", "1.1.0")).json()
    assert (task["TaskState"], task["PercentComplete"]) == ("Completed", 100)
    client.close()
    options = ["--redfish-update-seconds", "5", "--redfish-state-dir", str(tmp_path)]
    args = cli.build_parser().parse_args(options)
    with LabBmcServer(count=1) as ipmi_lab:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            args.redfish_offset = probe.getsockname()[1] - ipmi_lab.port(0)
        redfish = cli.start_redfish(ipmi_lab.bmcs, args)
        assert redfish.service(0).update_seconds == 5
        redfish.stop()
    args.redfish_update_seconds = -1
    with pytest.raises(cli.ConfigError):
        cli.start_redfish([], args)
