"""Agreement with DMTF's ``redfishtool`` (Debian package), a Redfish client nobody here wrote.

redfishtool itself never verifies TLS certificates (it hard-codes that), so these tests only
show agreement on content; TLS verification is proven by the other lab Redfish tests.
"""

import json
import shutil
import subprocess

import pytest

from apps.hardware.drivers import driver_for

pytestmark = pytest.mark.skipif(
    shutil.which("redfishtool") is None, reason="redfishtool is not installed (apt)"
)


def redfishtool(endpoint, *args, auth="Basic"):
    command = [
        "redfishtool",
        "-r", f"{endpoint.host}:{endpoint.port}",
        "-u", endpoint.username,
        "-p", endpoint.password,
        "-S", "Always",
        "-A", auth,
        "-T", "60",  # per request: generous, the machine may be busy
        *args,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_redfishtool_reads_what_the_ipmi_face_reports(dual_lab):
    endpoint = dual_lab.redfish.endpoint(0)
    ipmi = driver_for(dual_lab.ipmi.endpoint(0))
    versions = {f.component: f.version for f in ipmi.firmware()}
    manager = redfishtool(endpoint, "Managers", "-1", "get", "-P", "FirmwareVersion")
    assert manager["FirmwareVersion"] == versions["BMC Version"]
    ipmi.power("off")
    system = redfishtool(endpoint, "Systems", "-1", "get")
    assert system["PowerState"] == "Off"
    assert system["SerialNumber"] == ipmi.inventory().serial


def test_redfishtool_with_a_session_resets_and_sets_boot_seen_over_ipmi(dual_lab):
    endpoint = dual_lab.redfish.endpoint(0)
    ipmi = driver_for(dual_lab.ipmi.endpoint(0))
    redfishtool(endpoint, "Systems", "-1", "reset", "ForceOff", auth="Session")
    assert ipmi.power_state().state == "off"
    redfishtool(endpoint, "Systems", "-1", "setBootOverride", "Continuous", "Pxe", auth="Session")
    boot = ipmi.boot_device()
    assert (boot.device, boot.persistent) == ("network", True)
    assert dual_lab.redfish.service(0).sessions == {}  # redfishtool logged out each time
