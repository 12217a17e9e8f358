"""The offline PCR prediction model, without a TPM: values, stability, variants, explanations."""

import hashlib
import shutil
import subprocess
from dataclasses import replace

import pytest

from apps.attestation import predict as p
from apps.lab.tpm import artefacts
from apps.lab.tpm.node import (
    LAB_PROFILE,
    approved_variants,
    base_configuration,
    lab_release,
    nic_option_rom,
)

SEPARATOR_SHA256 = "df3f619804a92fdb4057192dc43dd748ea778adc52bc498ce80524c014b81119"
ONLY_SEPARATOR_PCR_SHA256 = "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969"


def _pcrs(config=None, version="1.4.0"):
    return p.predict(LAB_PROFILE, lab_release(version), config or base_configuration()).pcrs


def _changed(a, b, bank="sha256"):
    return sorted(k for k in a[bank] if a[bank][k] != b[bank][k])


def test_constant_events_have_the_published_digests():
    assert p.separator(0).digests["sha256"].hex() == SEPARATOR_SHA256
    only_sep = p.replay([p.separator(3)], ["sha256"], [3])["sha256"][3]
    assert only_sep == ONLY_SEPARATOR_PCR_SHA256


def test_prediction_is_stable_across_rebuilds_of_every_input():
    first = p.predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration())
    second = p.predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration())
    assert first.pcrs == second.pcrs
    assert first.eventlog() == second.eventlog()
    assert set(first.pcrs) == {"sha1", "sha256"}
    assert sorted(first.pcrs["sha256"]) == list(range(8))


def test_generated_log_replays_to_the_predicted_values():
    pred = p.predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration())
    events, locality = p.parse_eventlog(pred.eventlog())
    assert locality == 0
    assert p.replay(events, p.BANKS) == pred.pcrs
    assert [e.digests for e in events] == [e.digests for e in pred.events]


def test_startup_locality_is_carried_by_the_log_and_changes_pcr0_only():
    rel = replace(lab_release("1.4.0"), startup_locality=3)
    pred = p.predict(LAB_PROFILE, rel, base_configuration())
    events, locality = p.parse_eventlog(pred.eventlog())
    assert locality == 3
    assert p.replay(events, p.BANKS, locality=3) == pred.pcrs
    assert _changed(pred.pcrs, _pcrs()) == [0]


@pytest.mark.parametrize(
    ("change", "pcrs"),
    [
        (lambda c: replace(c, option_roms=(nic_option_rom("nic-a", 2),)), [2]),
        (lambda c: replace(c, boot_order=(2, 1)), [1]),
        (lambda c: replace(c, secure_boot=False), [7]),
        (lambda c: replace(c, dbx=b"revoked"), [7]),
        (lambda c: replace(c, gpt=c.gpt[:-1] + b"\x01"), [5]),
        (
            lambda c: replace(
                c, boot_binaries=(p.BootBinary("\\x.efi", artefacts.lab_loader("other")),)
            ),
            [4],
        ),
        (lambda c: replace(c, authorities=(b"cert",)), [7]),
    ],
)
def test_each_configuration_change_moves_exactly_its_pcr(change, pcrs):
    base = base_configuration()
    assert _changed(_pcrs(change(base)), _pcrs(base)) == pcrs


def test_another_firmware_build_changes_pcr0_only():
    assert _changed(_pcrs(version="1.5.0"), _pcrs()) == [0]


def test_option_rom_digest_does_not_depend_on_the_slot():
    a = _pcrs(replace(base_configuration(), option_roms=(nic_option_rom("nic-a", 2),)))
    b = _pcrs(replace(base_configuration(), option_roms=(nic_option_rom("nic-a", 6),)))
    assert a == b


def test_option_rom_given_by_digest_equals_option_rom_given_by_file():
    rom = nic_option_rom("nic-b", 2)
    drivers = rom.drivers(p.BANKS)
    by_digest = p.OptionRom(rom.pci_path, digests=tuple(d for _, d in drivers))
    assert _pcrs(replace(base_configuration(), option_roms=(by_digest,))) == _pcrs(
        replace(base_configuration(), option_roms=(rom,))
    )


def test_variants_are_a_set_of_exact_vectors_not_a_looser_check():
    config = base_configuration()
    sets = p.acceptable_pcr_sets(LAB_PROFILE, lab_release("1.4.0"), config, approved_variants())
    with_a = _pcrs(replace(config, option_roms=(nic_option_rom("nic-a", 2),)))["sha256"]
    with_b = _pcrs(replace(config, option_roms=(nic_option_rom("nic-b", 2),)))["sha256"]
    assert len(sets) == 2
    assert _pcrs(config)["sha256"] in sets
    assert with_a in sets
    assert with_b not in sets
    # PCR2 of the approved card combined with another change is still rejected.
    mixed = _pcrs(replace(config, option_roms=(nic_option_rom("nic-a", 2),), boot_order=(2, 1)))
    assert mixed["sha256"] not in sets


def test_variants_over_boot_orders_and_releases_multiply():
    variants = p.Variants(
        option_rom_sets=((), (nic_option_rom("nic-a", 2),)),
        boot_orders=((1, 2), (2, 1)),
        releases=(lab_release("1.4.0"), lab_release("1.5.0")),
    )
    sets = p.acceptable_pcr_sets(LAB_PROFILE, lab_release("1.4.0"), base_configuration(), variants)
    assert len(sets) == 8


def test_release_for_another_sku_is_refused():
    rel = replace(lab_release("1.4.0"), sku="OTHER")
    with pytest.raises(p.PredictionError, match="SKU"):
        p.predict(LAB_PROFILE, rel, base_configuration())


def _explain(config, version="1.4.0"):
    expected = p.predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration())
    actual = p.predict(LAB_PROFILE, lab_release(version), config)
    return p.explain(expected, actual.eventlog(), actual.pcrs["sha256"])


def test_explain_names_an_unapproved_option_rom_and_its_slot():
    config = replace(base_configuration(), option_roms=(nic_option_rom("nic-b", 5),))
    (d,) = _explain(config)
    assert d.pcr == 2 and d.kind == "option_rom"
    assert "PciRoot(0x0)/Pci(0x5,0x0)" in d.message
    assert "new or changed PCIe card" in d.message


def test_explain_names_a_removed_card():
    expected = p.predict(
        LAB_PROFILE,
        lab_release("1.4.0"),
        replace(base_configuration(), option_roms=(nic_option_rom("nic-a", 2),)),
    )
    actual = p.predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration())
    (d,) = p.explain(expected, actual.eventlog())
    assert (d.pcr, d.kind) == (2, "option_rom_missing")


@pytest.mark.parametrize(
    ("change", "version", "pcr", "kind", "words"),
    [
        (lambda c: replace(c, boot_order=(2, 1)), "1.4.0", 1, "boot_order", "BootOrder changed"),
        (lambda c: c, "1.5.0", 0, "firmware", "firmware differs from release 1.4.0"),
        (lambda c: replace(c, secure_boot=False), "1.4.0", 7, "secure_boot", "SecureBoot"),
        (lambda c: replace(c, gpt=c.gpt[:-1] + b"\x01"), "1.4.0", 5, "gpt", "partition table"),
        (
            lambda c: replace(
                c, boot_binaries=(p.BootBinary("\\x.efi", artefacts.lab_loader("evil")),)
            ),
            "1.4.0",
            4,
            "boot_loader",
            "boot loader binary changed",
        ),
        (
            lambda c: replace(
                c, boot_entries=(*c.boot_entries[:1], p.BootEntry(2, p.load_option("x", "\\y")))
            ),
            "1.4.0",
            1,
            "boot_entry",
            "Boot0002",
        ),
    ],
)
def test_explain_says_what_changed_in_plain_words(change, version, pcr, kind, words):
    (d,) = _explain(change(base_configuration()), version)
    assert (d.pcr, d.kind) == (pcr, kind)
    assert words in d.message


def test_explain_reports_a_log_that_does_not_replay_to_the_quote():
    pred = p.predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration())
    quoted = dict(pred.pcrs["sha256"])
    quoted[4] = "00" * 32
    (d,) = p.explain(pred, pred.eventlog(), quoted)
    assert (d.pcr, d.kind) == (4, "log_replay")


def test_explain_of_a_matching_log_is_empty():
    pred = p.predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration())
    assert p.explain(pred, pred.eventlog(), pred.pcrs["sha256"]) == []


def test_harvested_release_reproduces_the_golden_boot_and_recomputes_configuration():
    golden = p.predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration())
    harvested = p.harvest_reference(golden.eventlog(), "1.4.0", LAB_PROFILE.sku)
    assert harvested.source == "golden-boot"
    slots = {e.slot for e in harvested.template if e.slot}
    assert slots == set(p.SLOTS)
    assert all(not e.digests for e in harvested.template if e.slot)
    assert p.predict(LAB_PROFILE, harvested, base_configuration()).pcrs == golden.pcrs
    nic = replace(base_configuration(), option_roms=(nic_option_rom("nic-a", 2),))
    assert (
        p.predict(LAB_PROFILE, harvested, nic).pcrs
        == p.predict(LAB_PROFILE, lab_release("1.4.0"), nic).pcrs
    )


def test_boot_entries_are_recovered_from_a_log():
    pred = p.predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration())
    order, entries = p.boot_entries_from_eventlog(pred.eventlog())
    assert order == base_configuration().boot_order
    assert entries == base_configuration().boot_entries


def test_authenticode_matches_pesign(tmp_path):
    image = artefacts.lab_loader("pesign-check")
    pesign = shutil.which("pesign")
    assert pesign, "pesign (Debian package pesign) is part of the test environment"
    (tmp_path / "img.efi").write_bytes(image)
    out = subprocess.run(
        [pesign, "-h", "-d", "sha256", "-i", str(tmp_path / "img.efi")],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.decode()
    assert out.split()[-1] == p.authenticode_digest(image).hex()
    assert p.authenticode_digest(image) != hashlib.sha256(image).digest()


def test_option_rom_driver_is_found_after_the_legacy_image():
    driver = artefacts.lab_driver("x")
    ((start, end, pe),) = p.option_rom_images(artefacts.build_option_rom(driver))
    assert start == 0x200
    assert pe.startswith(driver)
    assert (end + 1 - start) % 512 == 0


def test_gpt_event_data_holds_header_count_and_used_entries():
    disk = bytes(
        artefacts.build_gpt(
            1024 * 1024,
            [(artefacts.ESP_TYPE, "0b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9", 34, 100, "ESP")],
            "6c1e8d4a-2f8b-4a57-9d0e-5a1f2b3c4d5e",
        )
    )
    data = p.gpt_event_data(disk)
    assert data[:8] == b"EFI PART"
    assert int.from_bytes(data[92:100], "little") == 1
    assert len(data) == 92 + 8 + 128


def test_device_paths_round_trip_through_text():
    text = "PciRoot(0x0)/Pci(0x2,0x0)/Offset(0x200,0x9ff)"
    assert p.device_path_text(p.device_path(text)) == text


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\0" * 31,
        p.serialize_eventlog([p.separator(0)])[:-3],
        p.serialize_eventlog([p.separator(0)]).replace(b"\x0b\x00\x20\x00", b"\x0b\x00\x21\x00"),
        p.serialize_eventlog([replace(p.separator(0), pcr=99)]),
    ],
)
def test_malformed_logs_raise_the_one_prediction_error(bad):
    with pytest.raises(p.PredictionError):
        p.parse_eventlog(bad)


@pytest.mark.parametrize(
    ("fn", "arg"),
    [
        (p.authenticode_digest, b"MZ" + b"\0" * 10),
        (p.authenticode_digest, b"not a PE"),
        (p.option_rom_images, b"\0" * 1024),
        (p.option_rom_images, b"\x55\xaa" + b"\0" * 100),
        (p.gpt_event_data, b"\0" * 4096),
        (p.device_path, "Bogus(1)"),
    ],
)
def test_bad_artefacts_raise_the_one_prediction_error(fn, arg):
    with pytest.raises(p.PredictionError):
        fn(arg)
