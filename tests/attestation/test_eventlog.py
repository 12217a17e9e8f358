"""Event-log parser, replayer, decoders and writer on logs the suite makes itself.

The lab's boots are written and replayed by the prediction model (apps.attestation.predict),
an implementation independent of the one under test; hand-built logs (SHA-1 format, H-CRTM,
SM3, a bank missing on one event) state values computed with hashlib in eventlog_samples.py.
The real OVMF boot's log is checked in test_ovmf.py, the public third-party logs in
test_eventlog_vectors.py.
"""

import hashlib
import re
import struct

import pytest

from apps.attestation import predict as p
from apps.attestation.tcg import uefi
from apps.attestation.tcg.eventlog import (
    EventLogError,
    FirmwareBlob,
    GptData,
    ImageLoad,
    LoadOption,
    Separator,
    SignatureData,
    Text,
    UefiVariable,
    action_event,
    extend,
    initial_pcr,
    inject_missing_exit_boot_services,
    make_event,
    parse_event_log,
    replay,
    replay_log,
    separator_event,
    serialize_crypto_agile,
    startup_locality_event,
)
from apps.lab.tpm import artefacts
from apps.lab.tpm.node import LOADER_PATH, nic_rom
from tests.attestation.eventlog_samples import LAB_DB_SUBJECT, names, sample, samples


def parsed(name, strict=False):
    return parse_event_log(sample(name).raw, strict=strict)


def _by_type(log, type_name):
    return [e for e in log.events if e.type_name == type_name]


@pytest.mark.parametrize("name", names())
def test_log_replays_to_every_stated_pcr_value(name):
    s = sample(name)
    log = parse_event_log(s.raw)
    pcrs = replay(inject_missing_exit_boot_services(log) if s.missing_ebs else log)
    for bank, values in s.pcrs.items():
        for index, value in values.items():
            assert pcrs[bank][index].hex() == value, (bank, index)
    assert log.events


def test_the_samples_state_many_values_so_the_suite_means_something():
    assert sum(len(v) for s in samples() for v in s.pcrs.values()) >= 150
    assert {parse_event_log(s.raw).format for s in samples()} == {"sha1", "crypto-agile"}


def test_missing_exit_boot_services_events_change_pcr5():
    s = sample("lab-missing-ebs")
    log = parse_event_log(s.raw)
    assert replay(log)["sha256"][5].hex() != s.pcrs["sha256"][5]
    assert replay(log)["sha256"][4].hex() == s.pcrs["sha256"][4]
    assert len(inject_missing_exit_boot_services(log)) == len(log.events) + 2
    complete = parsed("lab-base")
    assert len(inject_missing_exit_boot_services(complete)) == len(complete.events)


def test_startup_locality_3_moves_pcr0_only():
    log = parsed("lab-locality-3")
    assert log.startup_locality == 3
    assert [e for e in log.events if e.type_name == "EV_NO_ACTION"][1].summary() == (
        "StartupLocality 3"
    )
    moved, base = replay(log), replay(parsed("lab-base"))
    for bank in ("sha1", "sha256"):
        assert [i for i in range(24) if moved[bank][i] != base[bank][i]] == [0]
    hand = parsed("hand-startup-locality-3")
    assert hand.startup_locality == 3
    assert replay(hand)["sha256"][0].hex() == sample("hand-startup-locality-3").pcrs["sha256"][0]


def test_h_crtm_event_starts_pcr0_from_locality_4_and_no_action_digests_are_ignored():
    log = parsed("hand-hcrtm-sm3")
    assert log.startup_locality == 4
    no_action = _by_type(log, "EV_NO_ACTION")[1]
    assert no_action.digests["sha256"] == b"\x11" * 32  # logged with a digest, never extended
    assert log.banks == ("sha256", "sm3_256")
    assert replay(log)["sm3_256"][0].hex() == sample("hand-hcrtm-sm3").pcrs["sm3_256"][0]


def test_no_action_events_are_never_extended():
    events = [
        startup_locality_event(0, ["sha256"]),
        make_event(0, "EV_NO_ACTION", b"SP800-155 Event\0xyz", ["sha256"]),
        separator_event(0, ["sha256"]),
    ]
    events[1].digests["sha256"] = b"\x11" * 32  # a digest on EV_NO_ACTION must still be ignored
    expected = extend("sha256", bytes(32), hashlib.sha256(bytes(4)).digest())
    assert replay(events)["sha256"][0] == expected


def test_initial_values_follow_the_pc_client_profile():
    assert initial_pcr("sha256", 0, 4) == bytes(31) + b"\x04"
    assert initial_pcr("sha1", 17) == b"\xff" * 20
    assert initial_pcr("sha384", 23) == bytes(48)
    values = replay(parsed("hand-sha1-format"))["sha1"]
    assert values[17] == values[22] == b"\xff" * 20
    assert values[23] == bytes(20)
    assert values[18] == extend(
        "sha1", b"\xff" * 20, hashlib.sha1(b"dynamic root of trust", usedforsecurity=False).digest()
    )
    assert values[16] == extend(
        "sha1", bytes(20), hashlib.sha1(b"debug", usedforsecurity=False).digest()
    )


def test_separator_only_pcr_has_the_well_known_value():
    pcr = extend("sha256", bytes(32), separator_event(3).digests["sha256"])
    assert pcr.hex().startswith("3d458cfe55cc03ea")


def test_replay_rejects_a_bank_the_log_does_not_carry():
    log = parsed("lab-base")
    with pytest.raises(EventLogError, match="no sha384 bank"):
        replay(log, ["sha384"])
    with pytest.raises(EventLogError, match="unknown PCR bank"):
        replay(log, ["md5"])
    assert set(replay(parsed("lab-four-banks"))) == {"sha1", "sha256", "sha384", "sha512"}


def test_a_bank_missing_on_one_event_is_left_out_of_the_default_replay():
    log = parsed("hand-sha1-missing-on-one-event")
    assert log.banks == ("sha1", "sha256")
    assert set(replay(log)) == {"sha256"}
    with pytest.raises(EventLogError, match="no sha1 bank"):
        replay(log, ["sha1"])


def test_sha1_format_log_is_read_as_such():
    log = parsed("hand-sha1-format", strict=True)
    assert (log.format, log.banks, log.spec_id) == ("sha1", ("sha1",), None)
    assert log.events[0].type_name == "EV_S_CRTM_VERSION"
    assert log.events[0].decoded == Text("2.7")
    assert _by_type(log, "EV_IPL")[0].decoded == Text("grub_cmd linux /vmlinuz root=/dev/sda2")


def test_boot_order_and_boot_entries_are_decoded():
    log = parsed("lab-nics-1.5.0")
    variables = {e.decoded.name: e.decoded for e in _by_type(log, "EV_EFI_VARIABLE_BOOT")}
    assert variables["BootOrder"].value == [2, 1]
    entry = variables["Boot0001"].value
    assert isinstance(entry, LoadOption)
    assert entry.description == "heatsite"
    assert entry.device_path == f"PciRoot(0x0)/Pci(0x1,0x0)/File({LOADER_PATH})"
    assert variables["Boot0002"].value.description == "PXE IPv4"
    assert "BootOrder = Boot0002,Boot0001" in [v.summary() for v in variables.values()]


def test_secure_boot_variables_and_signature_lists_are_decoded():
    log = parsed("lab-secure-boot-keys")
    config = {
        e.decoded.name: e.decoded
        for e in _by_type(log, "EV_EFI_VARIABLE_DRIVER_CONFIG")
        if isinstance(e.decoded, UefiVariable)
    }
    assert config["SecureBoot"].value is True
    db = config["db"].value
    assert db and all(s.type_name == "EFI_CERT_X509" for s in db)
    subjects = [uefi.x509_subject(sig.data) for s in db for sig in s.signatures]
    assert any("Heatsite lab db" in subject for subject in subjects)
    dbx = config["dbx"].value
    assert [s.type_name for s in dbx] == ["EFI_CERT_SHA256"]
    assert [len(sig.data) for sig in dbx[0].signatures] == [32, 32]
    (authority,) = _by_type(log, "EV_EFI_VARIABLE_AUTHORITY")
    assert isinstance(authority.decoded.value, SignatureData)
    assert LAB_DB_SUBJECT.split(",")[0] in authority.summary()
    off = _by_type(parsed("lab-nics-1.5.0"), "EV_EFI_VARIABLE_DRIVER_CONFIG")[0].decoded
    assert off.name == "SecureBoot"
    assert off.value is False
    assert off.summary() == "SecureBoot = disabled"


def test_variable_digest_covers_what_the_profile_says():
    log = parsed("lab-secure-boot-keys")
    for ev in _by_type(log, "EV_EFI_VARIABLE_DRIVER_CONFIG"):
        assert ev.digests["sha256"] == hashlib.sha256(ev.data).digest()
        var = ev.decoded
        rebuilt = uefi.efi_variable_data(var.guid, var.name, var.data)
        assert rebuilt == ev.data
    boot = _by_type(log, "EV_EFI_VARIABLE_BOOT")
    assert len(boot) == 3
    for ev in boot:
        assert ev.digests["sha256"] == hashlib.sha256(ev.decoded.data).digest()
        assert ev.digests["sha256"] != hashlib.sha256(ev.data).digest()


def test_device_paths_render_like_the_prediction_model():
    """Two independent implementations agree on every device path of the lab's logs: the
    decoder's text equals predict's rendering of option ROM drivers, and predict's encoder turns
    the decoder's text of each load option back into the measured bytes."""
    compared = 0
    for s in samples():
        if s.prediction is None or s.missing_ebs:
            continue
        measured = [e for e in parse_event_log(s.raw).events if e.measured]
        assert len(measured) == len(s.prediction.events)
        for ours, theirs in zip(measured, s.prediction.events, strict=True):
            decoded = ours.decoded
            if isinstance(decoded, ImageLoad) and decoded.device_path:
                assert decoded.device_path == theirs.label
                compared += 1
            elif isinstance(decoded, UefiVariable) and isinstance(decoded.value, LoadOption):
                # predict writes a file node as the bare path, the decoder as File(path)
                text = re.sub(r"File\((.*)\)", r"\1", decoded.value.device_path)
                assert p.device_path(text) in theirs.data
                compared += 1
    assert compared >= 12


def test_option_rom_driver_path_names_the_pci_slot():
    log = parsed("lab-nics-1.5.0")
    drivers = _by_type(log, "EV_EFI_BOOT_SERVICES_DRIVER")
    assert [d.pcr for d in drivers] == [2, 2]
    expected = []
    for slot, model in ((2, "nic-a"), (5, "nic-b")):
        ((start, end, _),) = p.option_rom_images(nic_rom(model))
        expected.append(f"PciRoot(0x0)/Pci(0x{slot:x},0x0)/Offset(0x{start:x},0x{end:x})")
    assert [d.decoded.device_path for d in drivers] == expected
    assert not _by_type(parsed("lab-base"), "EV_EFI_BOOT_SERVICES_DRIVER")


def test_gpt_and_firmware_blobs_are_decoded():
    log = parsed("lab-base")
    (gpt_event,) = _by_type(log, "EV_EFI_GPT_EVENT")
    gpt = gpt_event.decoded
    assert isinstance(gpt, GptData)
    assert gpt_event.digests["sha256"] == hashlib.sha256(gpt_event.data).digest()
    assert [part.name for part in gpt.partitions] == ["ESP", "root"]
    assert gpt.partitions[0].unique_guid == "0b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9"
    assert gpt.partitions[0].type_guid == artefacts.ESP_TYPE
    assert (gpt.partitions[1].first_lba, gpt.partitions[1].last_lba) == (4096, 8157)
    assert gpt.disk_guid == "6c1e8d4a-2f8b-4a57-9d0e-5a1f2b3c4d5e"
    volume = artefacts.firmware_volume("1.4.0", 1)
    blob = log.events[3]
    assert blob.decoded == FirmwareBlob(base=0xFFD00000, length=len(volume))
    assert blob.digests["sha256"] == hashlib.sha256(volume).digest()
    assert log.events[1].type_name == "EV_S_CRTM_VERSION"
    assert log.events[1].decoded == Text("1.4.0")
    assert isinstance(_by_type(log, "EV_SEPARATOR")[0].decoded, Separator)
    (app,) = _by_type(log, "EV_EFI_BOOT_SERVICES_APPLICATION")
    assert app.decoded == ImageLoad(0, 0, 0, "")


def test_actions_are_text():
    texts = [e.decoded.text for e in _by_type(parsed("lab-base"), "EV_EFI_ACTION")]
    assert texts == [
        "Calling EFI Application from Boot Option",
        "Exit Boot Services Invocation",
        "Exit Boot Services Returned with Success",
    ]


def test_every_payload_of_every_strict_sample_decodes_strictly():
    strict = [s for s in samples() if s.strict]
    assert len(strict) >= 5
    for s in strict:
        log = parse_event_log(s.raw, strict=True)
        assert all(e.summary() is not None for e in log.events)
        assert not any("undecodable" in e.summary() for e in log.events)


def test_placeholder_keys_are_undecodable_but_the_log_still_parses():
    log = parsed("lab-base")
    db = next(e for e in _by_type(log, "EV_EFI_VARIABLE_DRIVER_CONFIG") if e.index == 7)
    assert "undecodable" in db.summary()
    with pytest.raises(EventLogError, match="signature list"):
        parse_event_log(sample("lab-base").raw, strict=True)


def test_writer_output_reads_back_with_the_same_values():
    banks = ["sha1", "sha256", "sha384", "sha512", "sm3_256"]
    boot0001 = uefi.load_option(
        "Heatsite disk",
        uefi.device_path(
            uefi.pci_root(0),
            uefi.pci(4, 0),
            uefi.hard_drive(1, 2048, 204800, "c359e798-596a-42b6-b6f6-eca290429d99"),
            uefi.file_path("\\EFI\\BOOT\\BOOTX64.EFI"),
        ),
    )
    var = uefi.efi_variable_data(uefi.EFI_GLOBAL_VARIABLE, "Boot0001", boot0001)
    rom = uefi.image_load_event(
        uefi.device_path(uefi.pci_root(0), uefi.pci(2, 0), uefi.rom_offset(0x12800, 0x3CDFF))
    )
    events = [
        startup_locality_event(3, banks),
        make_event(0, "EV_S_CRTM_VERSION", "1.0\0".encode("utf-16-le"), banks),
        make_event(1, "EV_EFI_VARIABLE_BOOT", var, banks, hashed=boot0001),
        make_event(
            2,
            "EV_EFI_BOOT_SERVICES_DRIVER",
            rom,
            banks,
            digests={
                b: bytes(range(s))
                for b, s in [
                    ("sha1", 20),
                    ("sha256", 32),
                    ("sha384", 48),
                    ("sha512", 64),
                    ("sm3_256", 32),
                ]
            },
        ),
        action_event(4, "Calling EFI Application from Boot Option", banks),
        *[separator_event(i, banks) for i in range(8)],
    ]
    raw = serialize_crypto_agile(events, banks)
    log = parse_event_log(raw, strict=True)
    assert log.banks == tuple(banks)
    assert log.startup_locality == 3
    assert [e.type_name for e in log.events[1:]] == [e.type_name for e in events]
    assert replay(log) == replay(events)
    assert replay(log)["sm3_256"][4] == extend(
        "sm3_256",
        extend("sm3_256", bytes(32), events[4].digests["sm3_256"]),
        events[8].digests["sm3_256"],
    )
    assert log.events[3].decoded.value.device_path == (
        "PciRoot(0x0)/Pci(0x4,0x0)/HD(1,GPT,c359e798-596a-42b6-b6f6-eca290429d99,0x800,0x32000)"
        "/File(\\EFI\\BOOT\\BOOTX64.EFI)"
    )
    assert log.events[4].decoded.device_path == "PciRoot(0x0)/Pci(0x2,0x0)/Offset(0x12800,0x3cdff)"
    assert serialize_crypto_agile(log.events, banks) == raw


@pytest.mark.parametrize(
    "name", [s.name for s in samples() if s.prediction or s.name == "hand-hcrtm-sm3"]
)
def test_writer_reproduces_an_independently_written_log_byte_for_byte(name):
    raw = sample(name).raw
    log = parse_event_log(raw)
    assert serialize_crypto_agile(log.events, list(log.banks)) == raw


def test_writer_refuses_an_event_without_the_banks_digest():
    with pytest.raises(EventLogError, match="sha384"):
        serialize_crypto_agile([separator_event(0, ["sha256"])], ["sha256", "sha384"])
    with pytest.raises(EventLogError, match="sha1 digest"):
        log = parsed("hand-sha1-missing-on-one-event")
        serialize_crypto_agile(log.events, list(log.banks))


# --- malformed input --------------------------------------------------------------------------


def test_empty_and_tiny_inputs_raise_the_parse_error():
    for raw in (b"", b"\0", b"\0" * 31):
        with pytest.raises(EventLogError):
            parse_event_log(raw)


@pytest.mark.parametrize("name", ["lab-secure-boot-keys", "hand-sha1-format"])
def test_every_truncation_of_a_log_is_either_a_shorter_log_or_the_parse_error(name):
    raw = sample(name).raw[:3000]
    boundaries = set()
    for length in range(1, len(raw)):
        try:
            log = parse_event_log(raw[:length])
        except EventLogError as exc:
            assert 0 <= exc.offset <= length
        else:
            boundaries.add(length)
            assert log.events
    assert len(boundaries) >= 5


@pytest.mark.parametrize("name", ["lab-base", "hand-sha1-format"])
def test_huge_event_size_is_reported_not_allocated(name):
    raw = bytearray(sample(name).raw)
    second = parse_event_log(bytes(raw)).events[1]
    struct.pack_into("<I", raw, second.data_offset - 4, 0xFFFFFFF0)
    with pytest.raises(EventLogError, match="exceeds") as info:
        parse_event_log(bytes(raw))
    assert info.value.offset == second.data_offset - 4


def test_unknown_digest_algorithm_is_rejected():
    raw = bytearray(sample("lab-base").raw)
    second = parse_event_log(bytes(raw)).events[1]
    struct.pack_into("<H", raw, second.offset + 12, 0x0099)
    with pytest.raises(EventLogError, match="not in the Spec ID"):
        parse_event_log(bytes(raw))


@pytest.mark.parametrize("name", ["lab-base", "hand-sha1-format"])
def test_out_of_range_pcr_is_rejected(name):
    raw = bytearray(sample(name).raw)
    second = parse_event_log(bytes(raw)).events[1]
    struct.pack_into("<I", raw, second.offset, 24)
    with pytest.raises(EventLogError, match="PCR index 24") as info:
        parse_event_log(bytes(raw))
    assert info.value.offset == second.offset


def test_spec_id_event_with_trailing_bytes_is_rejected():
    raw = bytearray(sample("lab-base").raw)
    size = struct.unpack_from("<I", raw, 28)[0]
    struct.pack_into("<I", raw, 28, size + 1)
    with pytest.raises(EventLogError):
        parse_event_log(bytes(raw))


def test_malformed_payload_is_undecoded_unless_strict():
    bad_var = make_event(7, "EV_EFI_VARIABLE_DRIVER_CONFIG", b"\x01" * 40)
    raw = serialize_crypto_agile([bad_var], ["sha256"])
    log = parse_event_log(raw)
    assert "undecodable" in log.events[1].summary()
    with pytest.raises(EventLogError, match="variable name length"):
        parse_event_log(raw, strict=True)


@pytest.mark.parametrize("name", names())
def test_fast_replay_from_bytes_equals_parse_and_replay(name):
    raw = sample(name).raw
    assert replay_log(raw) == replay(parse_event_log(raw))


@pytest.mark.parametrize("name", ["lab-four-banks", "hand-sha1-format"])
def test_fast_replay_reports_the_same_errors(name):
    raw = sample(name).raw
    cuts = [cut for cut in (100, 333, 777, 5000) if cut < len(raw)] + [len(raw) - 3]
    assert len(cuts) >= 3
    for cut in cuts:
        with pytest.raises(EventLogError) as slow:
            replay(parse_event_log(raw[:cut]))
        with pytest.raises(EventLogError) as fast:
            replay_log(raw[:cut])
        assert str(fast.value) == str(slow.value)
