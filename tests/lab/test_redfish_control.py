"""BMC lab controls (``manage.py lab_control NODE intrusion|fault|renew-cert|reboot-bmc``)."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.lab.bmc.control import BmcControl, BmcControlError
from apps.lab.management.commands.run_lab import TpmLab
from tests.lab.redfish_client import Client


@pytest.fixture
def control(dual_lab):
    return BmcControl({bmc.name: bmc for bmc in dual_lab.ipmi.bmcs}, dual_lab.redfish)


def test_each_bmc_control_changes_what_the_redfish_face_shows(dual_lab, control):
    client = Client(dual_lab.redfish.endpoint(0))
    answer = control.handle({"node": "lab-node-001", "action": "intrusion"})
    entries = client.json("/redfish/v1/Managers/1/LogServices/SEL/Entries")["Members"]
    entry = client.json(entries[-1]["@odata.id"])
    assert entry["SensorType"] == "Physical Chassis Security"
    assert answer["detail"] == f"SEL entry {entry['Id']}"
    control.handle({"node": "lab-node-001", "action": "fault", "fault": "sessions_full"})
    assert dual_lab.bmc(0).faults.sessions_full
    control.handle(
        {"node": "lab-node-001", "action": "fault", "fault": "sessions_full", "value": False}
    )
    assert not dual_lab.bmc(0).faults.sessions_full
    before = dual_lab.redfish.endpoint(0).fingerprint
    renewed = control.handle({"node": "lab-node-001", "action": "renew-cert"})
    assert before not in renewed["detail"]
    assert dual_lab.redfish.endpoint(0).fingerprint in renewed["detail"]
    client.close()


@pytest.mark.parametrize(
    "request_",
    [
        {"node": "nope", "action": "intrusion"},
        {"node": "lab-node-001", "action": "fault", "fault": "slow_ms"},  # not a switch
        {"node": "lab-node-001", "action": "explode"},
    ],
)
def test_bad_bmc_controls_say_why(control, request_):
    with pytest.raises(BmcControlError):
        control.handle(request_)


def test_lab_control_reaches_the_bmcs_through_run_labs_control_socket(dual_lab, control, tmp_path):
    lab = TpmLab(tmp_path)  # no TPM nodes: the control socket alone
    lab.bmc_control = control
    port = lab.serve_control(0)
    try:
        out = io.StringIO()
        call_command("lab_control", "lab-node-002", "fault", "--fault", "task_stuck",
                     "--port", str(port), stdout=out)  # fmt: skip
        assert "lab-node-002: fault done, task_stuck on" in out.getvalue()
        assert dual_lab.bmc(1).faults.task_stuck
        call_command("lab_control", "lab-node-002", "reboot-bmc", "--port", str(port), stdout=out)
        assert dual_lab.redfish.service(1).tasks == {}
        with pytest.raises(CommandError, match="unknown fault"):
            call_command("lab_control", "lab-node-002", "fault", "--fault", "nonsense",
                         "--port", str(port), stdout=out)  # fmt: skip
    finally:
        lab.stop()
