"""The swtpm lab: booted TPMs equal the prediction; controls move the right PCRs; verdicts."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.attestation.predict import predict
from apps.lab.tpm import tpm2
from apps.lab.tpm.node import LAB_PROFILE, base_configuration, lab_release, start_fleet
from apps.lab.tpm.sweep import attest, enrol
from apps.lab.tpm.swtpm import Swtpm, SwtpmError, find_free_port_range


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = start_fleet(2, tmp_path_factory.mktemp("lab"))
    yield f
    f.stop()


@pytest.fixture
def node(fleet):
    """A node freshly restored to the base configuration and release 1.4.0."""
    n = fleet.nodes[0]
    n.release = lab_release("1.4.0")
    n.config = base_configuration()
    n.boot()
    return n


def test_booted_tpm_equals_the_offline_prediction_in_both_banks(node):
    expected = predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration()).pcrs
    assert tpm2.read_pcrs(node.swtpm.tcti, "sha256") == expected["sha256"]
    assert tpm2.read_pcrs(node.swtpm.tcti, "sha1") == expected["sha1"]


def test_reboot_with_the_same_configuration_gives_the_same_pcrs(node):
    before = tpm2.read_pcrs(node.swtpm.tcti)
    node.boot()
    assert tpm2.read_pcrs(node.swtpm.tcti) == before


def test_a_fresh_tpm_booted_from_the_same_inputs_matches(fleet, node):
    other = fleet.nodes[1]
    other.release, other.config = node.release, node.config
    other.boot()
    assert tpm2.read_pcrs(other.swtpm.tcti) == tpm2.read_pcrs(node.swtpm.tcti)


def test_base_node_is_trusted(node):
    result = attest(enrol(node))
    assert (result.verdict, result.reason) == ("trusted", "")


def test_approved_nic_stays_trusted(node):
    enrolled = enrol(node)
    node.plug_nic("nic-a", slot=2)
    assert attest(enrolled).verdict == "trusted"


@pytest.mark.parametrize(
    ("control", "pcrs", "words"),
    [
        (lambda n: n.plug_nic("nic-b", slot=3), [2], "PciRoot(0x0)/Pci(0x3,0x0)"),
        (lambda n: n.set_boot_order((2, 1)), [1], "BootOrder changed"),
        (lambda n: n.flash("1.5.0"), [0], "firmware differs from release 1.4.0"),
    ],
)
def test_each_lab_control_moves_its_pcrs_and_the_explanation_names_them(node, control, pcrs, words):
    enrolled = enrol(node)
    before = tpm2.read_pcrs(node.swtpm.tcti)
    control(node)
    after = tpm2.read_pcrs(node.swtpm.tcti)
    assert sorted(p for p in before if before[p] != after[p]) == pcrs
    result = attest(enrolled)
    assert result.verdict == "mismatch"
    assert [d.pcr for d in result.divergences] == pcrs
    assert words in result.reason


def test_tampered_log_is_invalid_evidence(node):
    enrolled = enrol(node)
    before = tpm2.read_pcrs(node.swtpm.tcti)
    node.tamper_log()
    assert tpm2.read_pcrs(node.swtpm.tcti) == before
    result = attest(enrolled)
    assert result.verdict == "invalid"
    assert "does not replay" in result.reason and "PCR4" in result.reason


def test_stopped_agent_is_unreachable(tmp_path):
    f = start_fleet(1, tmp_path)
    enrolled = enrol(f.nodes[0])
    f.nodes[0].agent.stop()
    try:
        assert attest(enrolled).verdict == "unreachable"
    finally:
        f.stop()


def test_swtpm_on_a_taken_port_fails_clearly(fleet, tmp_path):
    taken = fleet.nodes[0].swtpm.port
    with pytest.raises(SwtpmError, match="in use"):
        Swtpm(tmp_path, taken).start()


def test_lab_command_sweeps_its_nodes(tmp_path):
    out = io.StringIO()
    base = find_free_port_range(2, 25000)
    call_command(
        "lab_tpm", count=2, base_port=base, state_dir=str(tmp_path), sweep=True, stdout=out
    )
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines[:2]] == ["trusted", "trusted"]
    assert lines[-1].startswith("attested 2 nodes")


def test_lab_command_rejects_a_bad_count(tmp_path):
    with pytest.raises(CommandError, match="count"):
        call_command("lab_tpm", count=0, base_port=25000, state_dir=str(tmp_path))
