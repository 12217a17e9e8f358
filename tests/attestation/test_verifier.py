"""The verifier through the real services: lab swtpm + agents over loopback, database records.

One module-scoped lab fleet; each test restores its node to the base configuration first.
"""

import dataclasses
import socket
from datetime import timedelta

import pytest

from apps.attestation import selectors, services
from apps.attestation.badges import Badge
from apps.attestation.models import Attestation, Enrolment
from apps.attestation.tasks import attest_node_task, attestation_sweep_nodes_task
from apps.audit.models import AuditEvent
from apps.lab.tpm.node import base_configuration, lab_release, start_fleet
from apps.lab.tpm.seed import seed_lab_nodes
from tests.factories import NodeFactory


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = start_fleet(2, tmp_path_factory.mktemp("verifier"))
    yield f
    f.stop()


@pytest.fixture
def lab(fleet):
    """Lab node 0, back to release 1.4.0 and the base configuration, freshly booted."""
    n = fleet.nodes[0]
    n.release, n.config = lab_release("1.4.0"), base_configuration()
    n.boot()
    return n


def _register(node, lab_node):
    return services.endpoint_register(
        node=node,
        host="127.0.0.1",
        port=lab_node.agent_port,
        cert_fingerprint=lab_node.cert_fingerprint,
        token=lab_node.token,
    )


@pytest.fixture
def node(node, lab):
    seed_lab_nodes([node])
    _register(node, lab)
    return node


def _attest(node):
    return services.attest(node_id=node.pk)


class Tamper:
    """Stands between the verifier and the real agent, rewriting its evidence."""

    def __init__(self, monkeypatch, change):
        real = services.client_for

        class Client:
            def __init__(self, address):
                self.inner = real(address)

            def quote(self, nonce, pcrs=tuple(range(8))):
                return change(self.inner, nonce, pcrs)

            def __getattr__(self, name):
                return getattr(self.inner, name)

        monkeypatch.setattr(services, "client_for", Client)


def test_sweep_enrols_a_new_node_then_trusts_it(node):
    counts = services.attestation_sweep([node.pk])
    assert counts["enrolled"] == 1 and counts["trusted"] == 1
    enrolment = Enrolment.objects.get(node=node)
    assert enrolment.superseded_at is None and len(enrolment.ak_name) == 68
    latest = Attestation.objects.get(node=node)
    assert (latest.verdict, latest.reason_code, latest.release_version) == ("trusted", "", "1.4.0")
    assert latest.reset_count is not None and set(latest.pcrs["sha256"]) == {
        str(i) for i in range(8)
    }
    assert selectors.node_badge(node) == Badge.TRUSTED
    actions = set(
        AuditEvent.objects.filter(target_id=str(node.pk)).values_list("action", flat=True)
    )
    assert {"attestation.enrol", "attestation.verdict"} <= actions


def test_agent_token_is_encrypted_at_rest(node, lab):
    stored = node.agent.token_encrypted
    assert lab.token.hex() not in stored and node.agent.token == lab.token


def test_approved_nic_variant_stays_trusted(node, lab):
    lab.plug_nic("nic-a", slot=2)
    assert _attest(node).verdict == "trusted"


@pytest.mark.parametrize(
    ("control", "pcr", "kind", "words"),
    [
        (
            lambda n: n.plug_nic("nic-b", slot=3),
            2,
            "option_rom",
            "an option ROM not in the approved set was loaded from PciRoot(0x0)/Pci(0x3,0x0)",
        ),
        (lambda n: n.set_boot_order((2, 1)), 1, "boot_order", "PCR1: BootOrder changed"),
        (lambda n: n.flash("1.5.0"), 0, "firmware", "firmware differs from release 1.4.0"),
    ],
)
def test_each_lab_control_gives_a_mismatch_naming_the_pcr(node, lab, control, pcr, kind, words):
    assert _attest(node).verdict == "trusted"
    control(lab)
    result = _attest(node)
    assert (result.verdict, result.reason_code) == ("mismatch", kind)
    assert [d["pcr"] for d in result.divergences] == [pcr]
    assert words in result.reason
    assert result.eventlog  # kept to explain the failure later
    assert selectors.node_badge(node) == Badge.MISMATCH


def test_tampered_log_is_invalid_evidence_that_does_not_replay(node, lab):
    lab.tamper_log()
    result = _attest(node)
    assert (result.verdict, result.reason_code) == ("invalid", "log_does_not_replay")
    assert "PCR4" in result.reason
    assert selectors.node_badge(node) == Badge.INVALID


def test_quote_for_another_nonce_is_rejected(node, monkeypatch):
    services.enrol(node_id=node.pk)
    Tamper(monkeypatch, lambda agent, nonce, pcrs: agent.quote(bytes(32), pcrs))
    result = _attest(node)
    assert (result.verdict, result.reason_code) == ("invalid", "nonce")


def test_replayed_quote_is_rejected_and_named_as_a_replay(node, monkeypatch):
    services.enrol(node_id=node.pk)
    captured = []

    def capture(agent, nonce, pcrs):
        captured.append(agent.quote(nonce, pcrs))
        return captured[-1]

    Tamper(monkeypatch, capture)
    assert _attest(node).verdict == "trusted"
    Tamper(monkeypatch, lambda agent, nonce, pcrs: captured[0])
    result = _attest(node)
    assert (result.verdict, result.reason_code) == ("invalid", "replayed_quote")
    assert "replayed quote" in result.reason


def test_quote_signed_by_another_tpm_is_rejected(node, fleet, monkeypatch):
    services.enrol(node_id=node.pk)
    other = fleet.nodes[1]
    Tamper(monkeypatch, lambda agent, nonce, pcrs: other.client().quote(nonce, pcrs))
    result = _attest(node)
    assert (result.verdict, result.reason_code) == ("invalid", "signature")
    assert "enrolled TPM key" in result.reason


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (
            lambda ev: dataclasses.replace(
                ev, pcrs={"sha256": {**ev.pcrs["sha256"], 2: "00" * 32}}
            ),
            "pcr_values_altered",
        ),
        (
            lambda ev: dataclasses.replace(ev, pcrs={**ev.pcrs, "sha3_256": {0: "00" * 32}}),
            "unknown_bank",
        ),
        (lambda ev: dataclasses.replace(ev, attest=ev.attest[:-7]), "malformed"),
        (lambda ev: dataclasses.replace(ev, signature=ev.signature[:9]), "malformed"),
        (lambda ev: dataclasses.replace(ev, eventlog=ev.eventlog[:-3]), "eventlog_malformed"),
    ],
)
def test_altered_or_truncated_evidence_is_rejected_with_its_reason(node, monkeypatch, change, code):
    services.enrol(node_id=node.pk)
    Tamper(monkeypatch, lambda agent, nonce, pcrs: change(agent.quote(nonce, pcrs)))
    result = _attest(node)
    assert (result.verdict, result.reason_code) == ("invalid", code)
    assert result.reason


def test_reboot_is_detected_by_the_reset_count(node, lab):
    first = _attest(node)
    lab.boot()
    second = _attest(node)
    assert second.verdict == "trusted" and second.rebooted
    assert second.reset_count == first.reset_count + 1
    assert "rebooted" in second.reason


def test_reset_count_going_backwards_is_invalid(node):
    first = _attest(node)
    Attestation.objects.filter(pk=first.pk).update(reset_count=first.reset_count + 10)
    result = _attest(node)
    assert (result.verdict, result.reason_code) == ("invalid", "clock")
    assert "resetCount went backwards" in result.reason


def test_trusted_badge_turns_stale_when_no_check_succeeds_in_time(node, settings):
    settings.ATTESTATION_INTERVAL = 60
    now = _attest(node).at  # the check's own time: however long it took to run
    assert selectors.node_badge(node, now=now + timedelta(seconds=170)) == Badge.TRUSTED
    assert selectors.node_badge(node, now=now + timedelta(seconds=181)) == Badge.STALE
    settings.ATTESTATION_STALE_AFTER = 3600
    assert selectors.node_badge(node, now=now + timedelta(seconds=181)) == Badge.TRUSTED


def test_silent_agent_is_unreachable(node):
    services.enrol(node_id=node.pk)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    node.agent.port = closed_port
    node.agent.save()
    result = _attest(node)
    assert (result.verdict, result.reason_code) == ("unreachable", "unreachable")
    assert selectors.node_badge(node) == Badge.UNREACHABLE


def test_node_without_agent_is_not_enrolled_and_skipped(site):
    bare = NodeFactory(site=site)
    assert services.attestation_sweep([bare.pk]) == {"skipped": 1}
    assert selectors.node_badge(bare) == Badge.NOT_ENROLLED
    with pytest.raises(services.AttestationError, match="no registered agent"):
        services.attest(node_id=bare.pk)


def test_wrong_certificate_pin_fails_enrolment_and_is_audited(node, lab):
    node.agent.cert_fingerprint = "ab" * 32
    node.agent.save()
    with pytest.raises(services.EnrolmentFailed, match="pinned"):
        services.enrol(node_id=node.pk)
    assert AuditEvent.objects.filter(action="attestation.enrol", result="failed").exists()


def test_replaced_tpm_is_invalid_until_reenrolled_then_trusted(node, fleet, engineer):
    services.enrol(node_id=node.pk)
    other = fleet.nodes[1]
    other.release, other.config = lab_release("1.4.0"), base_configuration()
    other.boot()
    _register(node, other)  # the board was swapped: same node, another TPM and agent
    assert _attest(node).reason_code == "signature"
    services.enrol(node_id=node.pk, actor=engineer)
    assert Enrolment.objects.filter(node=node).count() == 2
    assert Enrolment.objects.filter(node=node, superseded_at__isnull=True).count() == 1
    event = AuditEvent.objects.get(action="attestation.reenrol")
    assert event.actor == engineer and event.detail["ek_changed"] is True
    assert _attest(node).verdict == "trusted"


def test_node_without_configuration_is_a_mismatch_with_no_reference(node):
    node.attestation_config.delete()
    result = _attest(node)
    assert (result.verdict, result.reason_code) == ("mismatch", "no_reference")


def test_tasks_reload_by_id_and_call_the_services(node):
    assert attestation_sweep_nodes_task([node.pk]) == {"enrolled": 1, "trusted": 1, "skipped": 0}
    assert attest_node_task(node.pk) == "trusted"
    assert attest_node_task(NodeFactory(site=node.site).pk) == "refused"
