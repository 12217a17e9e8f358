"""Attestation reasons in French: a mismatch's divergences and the verifier's other reasons are
stored in English (audit, API ``reason``, campaigns) and rebuilt at display
(`apps.attestation.reason_text`) on the node's card, its history, an attestation's page, the
API's ``reason_text``/``message_text`` and a campaign node's reason. The detector is
tests/i18n/untranslated.py."""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from apps.attestation.models import Attestation
from apps.attestation.predict import explain, predict
from apps.attestation.reason_text import TEXTS, said
from apps.firmware.campaign_text import said as campaign_said
from apps.lab.tpm.node import LAB_PROFILE, base_configuration, lab_release, nic_option_rom
from apps.lab.tpm.seed import seed_lab_nodes
from tests.i18n.untranslated import english_in, visible_texts

pytestmark = pytest.mark.django_db

# what the verifier writes, word for word (values are data: devices, releases, events)
SAMPLES = [
    "PCR2: an option ROM not in the approved set was loaded from an unknown device — a new or "
    "changed PCIe card",
    "PCR2: the approved option ROM from PciRoot(0x0)/Pci(0x3,0x0) was not loaded — a PCIe "
    "card was removed or its ROM disabled",
    "PCR1: BootOrder changed",
    "PCR1: boot entry Boot0003 was added, removed or changed",
    "PCR7: Secure Boot configuration changed (db)",
    "PCR7: a different Secure Boot authority verified a loaded image",
    "PCR4: boot loader binary changed (boot application)",
    "PCR5: the boot disk's partition table (GPT) changed",
    "PCR4: a boot attempt failed and the firmware tried another boot option",
    "PCR4: the boot flow differs (EV_SEPARATOR [abcdef012345])",
    "PCR0: firmware differs from release 1.4.0 (EV_POST_CODE [abcdef012345])",
    "PCR3: the event log does not replay to the quoted value — the log was altered or is "
    "incomplete, so it cannot explain this PCR",
    "PCR0: startup locality 3 instead of 0 — firmware or platform changed",
    "the agent reports an unknown PCR bank 'sha3'",
    "the reported PCR values are not hex digests",
    "nonce mismatch: the quote answers another challenge (replay?): the quote was not signed "
    "by this node's enrolled TPM key",
    "the reported PCR values do not cover PCR0-7",
    "the event log is unreadable: 0x1f",
    "the event log does not replay to the quoted values (PCR0, PCR2): the log was altered or "
    "is incomplete",
    "no firmware release/configuration recorded",
    "rebooted since the previous check",
    "the PCRs match none of the approved variants of release 1.4.0",
    "replayed quote: it answers the challenge of 2026-11-03 13:05:00 UTC, not this one",
    "nonce mismatch: the quote answers another challenge (replay?)",
    "PCR digest mismatch: the PCR values are not the quoted",
    "resetCount went backwards (5 -> 4): TPM cleared or replaced, or an old quote replayed",
    "restartCount went backwards (2 -> 1)",
    "clock went backwards (9000 -> 100 ms); restartCount went backwards (2 -> 1)",
]
DATA = {"PciRoot(0x0)/Pci(0x3,0x0)", "Boot0003", "EV_SEPARATOR", "EV_POST_CODE", "'sha3'"}


@pytest.mark.parametrize("text", SAMPLES)
def test_every_attestation_reason_reads_french(text):
    with translation.override("fr"):
        french = said(text)
    assert french != text
    assert not english_in([french], allowed=DATA), french
    with translation.override("en"):
        assert said(text) == text


def test_every_msgid_has_a_sample():
    with translation.override("fr"):
        rebuilt = " ".join(said(s) for s in SAMPLES)
        for msgid in TEXTS:
            head = translation.gettext(msgid).split("%(")[0].strip(" :.")
            assert head in rebuilt, msgid


def _mismatch(node, *, removed: bool = False) -> Attestation:
    """A mismatch as the verifier records it: an unapproved NIC in slot 3 (or one removed)."""
    with_nic = replace(base_configuration(), option_roms=(nic_option_rom("nic-b", 3),))
    expected, actual = (
        (with_nic, base_configuration()) if removed else (base_configuration(), with_nic)
    )
    base = predict(LAB_PROFILE, lab_release("1.4.0"), expected)
    measured = predict(LAB_PROFILE, lab_release("1.4.0"), actual)
    why = explain(base, measured.eventlog())
    assert why
    return Attestation.objects.create(
        node=node,
        at=timezone.now(),
        verdict="mismatch",
        reason_code=why[0].kind,
        reason="; ".join(d.message for d in why),
        divergences=[asdict(d) for d in why],
        pcrs={"sha256": {str(p): v for p, v in measured.pcrs["sha256"].items()}},
        release_version="1.4.0",
    )


@pytest.fixture
def french_engineer(engineer):
    engineer.language = "fr"
    engineer.save()
    return engineer


@pytest.mark.parametrize("removed", [False, True])
def test_a_mismatch_reads_french_on_the_node_its_history_and_its_page(
    client, french_engineer, node, removed
):
    seed_lab_nodes([node])
    attestation = _mismatch(node, removed=removed)
    client.force_login(french_engineer)
    allowed = {node.name, node.site.code, node.site.name, "PciRoot(0x0)/Pci(0x3,0x0)"}
    for url in (
        reverse("node-detail", args=[node.pk]),
        reverse("node-attestation", args=[node.pk]),
        reverse("attestation-detail", args=[attestation.pk]),
    ):
        html = client.get(url).content.decode()
        assert "PCR2 : " in html, url
        found = english_in(visible_texts(html), allowed=allowed)
        assert not found, f"{url}: English left: {found[:10]}"


def test_the_api_gives_the_english_reason_and_the_readers(client, french_engineer, node):
    seed_lab_nodes([node])
    attestation = _mismatch(node)
    client.force_login(french_engineer)
    body = client.get(f"/api/v1/nodes/{node.pk}/attestation/").json()
    latest = next(a for a in body["history"] if a["id"] == attestation.pk)
    assert latest["reason"] == attestation.reason  # English: data for machines
    assert latest["reason_text"].startswith("PCR2 : une option ROM hors de l’ensemble approuvé")
    assert latest["divergences"][0]["message_text"] == latest["reason_text"]


def test_a_campaign_nodes_attestation_reason_is_french():
    reason = (
        "Attestation mismatch: PCR1: BootOrder changed; PCR7: Secure Boot configuration changed "
        "(db)"
    )
    with translation.override("fr"):
        french = campaign_said(reason)
    assert "PCR1 : BootOrder a changé; PCR7 : la configuration Secure Boot a changé (db)" in french
