"""The demo lab's TPM part: database nodes get swtpm + agent, endpoints are registered, and lab
controls sent through ``manage.py lab_control`` move the badge and the explanation."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.attestation import selectors, services
from apps.attestation.badges import Badge
from apps.lab.management.commands.run_lab import TpmLab
from apps.lab.tpm.seed import seed_lab_nodes
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab(node, tmp_path):
    seed_lab_nodes([node])
    NodeFactory(site=node.site)  # no attestation configuration: no lab TPM
    lab = TpmLab.from_db(tmp_path, limit=5)
    lab.start()
    port = lab.serve_control()
    yield lab, port
    lab.stop()


def _control(port, *args):
    out = io.StringIO()
    call_command("lab_control", *args, "--port", str(port), stdout=out)
    return out.getvalue()


def test_lab_starts_a_tpm_for_each_configured_node_and_registers_it(lab, node):
    tpm_lab, port = lab
    assert sorted(tpm_lab.nodes) == [node.name]
    assert tpm_lab.register_endpoints() == 1
    node.refresh_from_db()
    assert node.agent.port == tpm_lab.nodes[node.name].agent_port
    assert services.attest(node_id=node.pk).verdict == "trusted"
    assert selectors.node_badge(node) == Badge.TRUSTED
    assert _control(port, "-", "list").strip() == node.name


def test_lab_controls_move_the_badge_and_the_explanation(lab, node):
    tpm_lab, port = lab
    tpm_lab.register_endpoints()
    assert "plug-nic done" in _control(port, node.name, "plug-nic", "--slot", "3")
    result = services.attest(node_id=node.pk)
    assert result.verdict == "mismatch" and "Pci(0x3,0x0)" in result.reason
    _control(port, node.name, "reset")
    assert services.attest(node_id=node.pk).verdict == "trusted"
    _control(port, node.name, "boot-order", "--order", "2,1")
    assert services.attest(node_id=node.pk).reason_code == "boot_order"
    _control(port, node.name, "flash", "--release", "1.5.0")
    assert "PCR0" in services.attest(node_id=node.pk).reason
    _control(port, node.name, "tamper-log")
    assert services.attest(node_id=node.pk).reason_code == "log_does_not_replay"
    assert selectors.node_badge(node) == Badge.INVALID


def test_bad_control_requests_fail_with_the_reason(lab, node, tmp_path):
    _, port = lab
    with pytest.raises(CommandError, match="no lab TPM node named 'nope'"):
        _control(port, "nope", "reboot")
    with pytest.raises(CommandError, match="unknown lab NIC model"):
        _control(port, node.name, "plug-nic", "--model", "nic-z")
    with pytest.raises(CommandError, match="no running lab found"):
        call_command("lab_control", node.name, "reboot", "--state-dir", str(tmp_path / "none"))


def test_restarted_lab_keeps_its_tpm_identity_so_enrolment_survives(lab, node, tmp_path):
    tpm_lab, _ = lab
    tpm_lab.register_endpoints()
    services.attest(node_id=node.pk)
    tpm_lab.stop()
    again = TpmLab.from_db(tmp_path, limit=5)
    again.start()
    try:
        again.register_endpoints()
        result = services.attest(node_id=node.pk)
        assert result.verdict == "trusted" and result.rebooted
    finally:
        again.stop()
