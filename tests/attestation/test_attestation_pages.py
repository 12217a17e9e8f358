"""Attestation in the console: node card and history, explanation, releases, badges per role."""

from dataclasses import asdict, replace

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.attestation import services
from apps.attestation.models import Attestation, Enrolment, FirmwareRelease
from apps.attestation.predict import explain, predict
from apps.audit.models import AuditEvent
from apps.lab.tpm.node import LAB_PROFILE, base_configuration, lab_release, nic_option_rom
from apps.lab.tpm.seed import seed_lab_nodes

pytestmark = pytest.mark.django_db

NIC_B_TEXT = "PCR2: an option ROM not in the approved set was loaded from PciRoot(0x0)/Pci(0x3,0x0)"


def _enrolled(node):
    Enrolment.objects.create(
        node=node,
        ek_public=b"e",
        ak_public=b"a",
        ak_name="000b" + "ab" * 32,
        cert_fingerprint="f" * 64,
        enrolled_at=timezone.now(),
    )


def _nic_b_mismatch(node):
    """An attestation as the verifier records it when an unapproved NIC appears in slot 3."""
    base = predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration())
    changed = replace(base_configuration(), option_roms=(nic_option_rom("nic-b", 3),))
    actual = predict(LAB_PROFILE, lab_release("1.4.0"), changed)
    why = explain(base, actual.eventlog())
    return Attestation.objects.create(
        node=node,
        at=timezone.now(),
        verdict="mismatch",
        reason_code=why[0].kind,
        reason="; ".join(d.message for d in why),
        divergences=[asdict(d) for d in why],
        pcrs={"sha256": {str(p): v for p, v in actual.pcrs["sha256"].items()}},
        release_version="1.4.0",
    )


@pytest.fixture
def mismatch(node):
    seed_lab_nodes([node])
    _enrolled(node)
    return _nic_b_mismatch(node)


def test_node_page_shows_the_attestation_card_to_engineers(client, engineer, node, mismatch):
    client.force_login(engineer)
    body = client.get(reverse("node-detail", args=[node.pk])).content.decode()
    assert 'data-testid="attestation-card"' in body
    assert 'data-badge="mismatch"' in body and NIC_B_TEXT in body
    assert reverse("firmware-release", args=[node.attestation_config.release_id]) in body


def test_mismatch_page_names_the_pcr_and_the_first_divergent_event(client, engineer, mismatch):
    client.force_login(engineer)
    body = client.get(reverse("attestation-detail", args=[mismatch.pk])).content.decode()
    assert NIC_B_TEXT in body and "a new or changed PCIe card" in body
    assert "First divergent event on PCR2" in body
    assert "EV_EFI_BOOT_SERVICES_DRIVER PciRoot(0x0)/Pci(0x3,0x0)/Offset(" in body
    assert '<tr class="table-danger"><th>PCR2</th>' in body


def test_history_lists_every_attestation_newest_first(client, engineer, node, mismatch):
    later = Attestation.objects.create(node=node, at=timezone.now(), verdict="trusted")
    client.force_login(engineer)
    response = client.get(reverse("node-attestation", args=[node.pk]))
    history = list(response.context["history"])
    assert [a.pk for a in history] == [later.pk, mismatch.pk]
    assert 'data-badge="trusted"' in response.content.decode()


def test_release_page_shows_the_pcrs_it_implies_for_each_node(client, engineer, node):
    seed_lab_nodes([node])
    release = FirmwareRelease.objects.get(version="1.4.0")
    expected = predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration()).pcrs["sha256"]
    client.force_login(engineer)
    response = client.get(reverse("firmware-release", args=[release.pk]))
    (row,) = response.context["nodes"]
    assert row["node"] == node and row["pcrs"] == dict(sorted(expected.items()))
    body = response.content.decode()
    assert node.name in body and expected[0][:12] in body
    other = FirmwareRelease.objects.get(version="1.5.0")
    assert client.get(reverse("firmware-release", args=[other.pk])).context["nodes"] == []


def test_attest_now_is_audited_and_queued_after_commit(
    client, engineer, node, monkeypatch, django_capture_on_commit_callbacks
):
    services.endpoint_register(
        node=node, host="127.0.0.1", port=9, cert_fingerprint="a" * 64, token=b"t" * 32
    )
    queued = []
    monkeypatch.setattr("apps.attestation.tasks.attest_node_task.delay", queued.append)
    client.force_login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("node-attest", args=[node.pk]))
    assert response.status_code == 302 and queued == [node.pk]
    event = AuditEvent.objects.get(action="attestation.request")
    assert event.actor == engineer and event.result == "pending"


def test_attest_now_without_an_agent_says_why_and_queues_nothing(client, engineer, node):
    client.force_login(engineer)
    response = client.post(reverse("node-attest", args=[node.pk]), follow=True)
    assert "no registered agent endpoint" in response.content.decode()
    assert not AuditEvent.objects.filter(action="attestation.request").exists()


def test_engineer_sees_a_badge_per_node_and_the_site_badge(client, engineer, site, node, mismatch):
    client.force_login(engineer)
    body = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert 'data-testid="site-attestation"' in body
    assert body.count('data-badge="mismatch"') == 2  # the node row and the site
    fleet = client.get(reverse("fleet")).content.decode()
    assert 'data-badge="mismatch"' in fleet


@pytest.mark.parametrize("role", ["partner", "planner"])
def test_partner_and_planner_see_only_the_site_indicator(client, users, site, node, role):
    seed_lab_nodes([node])
    _enrolled(node)
    Attestation.objects.create(node=node, at=timezone.now(), verdict="trusted")
    client.force_login(users[role])
    body = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert 'data-testid="site-trust"' in body and "Machines verified" in body
    assert "data-badge=" not in body and node.name not in body
    fleet = client.get(reverse("fleet")).content.decode()
    assert "Machines verified" in fleet and "data-badge=" not in fleet


def test_partner_indicator_turns_off_when_a_machine_fails(client, partner, site, node, mismatch):
    client.force_login(partner)
    body = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert "0 of 1 machines verified" in body and "PCR2" not in body


def test_release_list_links_every_release(client, admin_user, node):
    seed_lab_nodes([node])
    client.force_login(admin_user)
    body = client.get(reverse("firmware-releases")).content.decode()
    for release in FirmwareRelease.objects.all():
        assert reverse("firmware-release", args=[release.pk]) in body
