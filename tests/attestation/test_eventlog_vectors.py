"""Interoperability: the event-log parser, replayer, decoders and writer against the public
third-party logs (go-attestation, tpm2-tools, keylime) and the PCR values their upstreams state.

Optional: run when HEATSITE_VECTORS names the vectors (tests/vectors.py), skipped otherwise.
test_eventlog.py covers the same paths on logs the suite makes itself.
"""

import hashlib
import re
import struct

import pytest

from apps.attestation.tcg import uefi
from apps.attestation.tcg.eventlog import (
    EventLogError,
    FirmwareBlob,
    GptData,
    ImageLoad,
    LoadOption,
    Separator,
    UefiVariable,
    inject_missing_exit_boot_services,
    parse_event_log,
    replay,
    replay_log,
    serialize_crypto_agile,
)
from tests import vectors as public_vectors

pytestmark = pytest.mark.vectors
TOOLS = public_vectors.TPM2_TOOLS
# go-attestation's TestEBSVerifyWorkaround: the firmware extended two actions it did not log.
NEEDS_EBS_WORKAROUND = {"go-attestation/attest/testdata/ebs_event_missing_eventlog"}
BOOT_GUARD = "keylime/test/data/create-mb-policy/binary_bios_measurements"


@pytest.mark.parametrize("name", public_vectors.log_names())
def test_log_replays_to_every_stated_pcr_value(name, vectors):
    log = parse_event_log(vectors.read_log(name))
    events = inject_missing_exit_boot_services(log) if name in NEEDS_EBS_WORKAROUND else log
    pcrs = replay(events)
    stated = vectors.expected[name]["pcrs"]
    for bank, values in stated.items():
        for index, value in values.items():
            assert pcrs[bank][int(index)].hex() == value, (bank, index)
    assert log.events, name


def test_expected_json_states_many_values_so_the_suite_means_something(vectors):
    count = sum(len(v) for e in vectors.expected.values() for v in e["pcrs"].values())
    assert count >= 150


def test_missing_exit_boot_services_events_change_pcr5(vectors):
    name = next(iter(NEEDS_EBS_WORKAROUND))
    log = parse_event_log(vectors.read_log(name))
    plain = replay(log)["sha1"][5].hex()
    assert plain != vectors.expected[name]["pcrs"]["sha1"]["5"]
    assert len(inject_missing_exit_boot_services(log)) == len(log.events) + 2


def test_boot_guard_log_starts_pcr0_from_locality_3(vectors):
    log = parse_event_log(
        vectors.read_log("keylime/test/data/create-mb-policy/binary_bios_measurements")
    )
    assert log.startup_locality == 3
    assert [e for e in log.events if e.type_name == "EV_NO_ACTION"][1].summary() == (
        "StartupLocality 3"
    )
    # Replayed from locality 3; tpm2-tools before 5.6 ignores StartupLocality (prints 1877eacb…).
    assert replay(log, ["sha256"])["sha256"][0].hex() == (
        "0ee9a7feba8f4172f1a7451594aa5731665a4d353ac61814042ce107a00742f2"
    )


def test_pcrs_16_and_18_start_where_the_pc_client_profile_says(vectors):
    values = replay(parse_event_log(vectors.read_log(TOOLS + "event-uefiaction.bin")))
    assert values["sha256"][18] == b"\xff" * 32
    assert values["sha1"][16] == bytes(20)


def test_replay_rejects_a_bank_the_log_does_not_carry(vectors):
    log = parse_event_log(vectors.read_log(TOOLS + "event-sd-boot-fedora37.bin"))
    with pytest.raises(EventLogError, match="no sha1 bank"):
        replay(log, ["sha1"])
    with pytest.raises(EventLogError, match="unknown PCR bank"):
        replay(log, ["md5"])


def _by_type(log, type_name):
    return [e for e in log.events if e.type_name == type_name]


def test_boot_order_and_boot_entries_are_decoded(vectors):
    log = parse_event_log(vectors.read_log(TOOLS + "event-bootorder.bin"))
    variables = {e.decoded.name: e.decoded for e in _by_type(log, "EV_EFI_VARIABLE_BOOT")}
    assert variables["BootOrder"].value == [1, 0, 2]
    entry = variables["Boot0000"].value
    assert isinstance(entry, LoadOption)
    assert entry.description == "UiApp"
    assert entry.device_path == (
        "FvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)"
    )
    assert "BootOrder = Boot0001,Boot0000,Boot0002" in [v.summary() for v in variables.values()]


def test_secure_boot_variables_and_signature_lists_are_decoded(vectors):
    log = parse_event_log(vectors.read_log(TOOLS + "event-postcode.bin"))
    config = {
        e.decoded.name: e.decoded
        for e in _by_type(log, "EV_EFI_VARIABLE_DRIVER_CONFIG")
        if isinstance(e.decoded, UefiVariable)
    }
    assert config["SecureBoot"].value is True
    db = config["db"].value
    assert db and all(s.type_name == "EFI_CERT_X509" for s in db)
    subjects = [uefi.x509_subject(sig.data) for s in db for sig in s.signatures]
    assert any("Microsoft" in subject for subject in subjects)
    dbx = config["dbx"].value
    assert any(s.type_name == "EFI_CERT_SHA256" for s in dbx)
    assert all(
        len(sig.data) == 32 for s in dbx if s.type_name == "EFI_CERT_SHA256" for sig in s.signatures
    )


def test_variable_digest_covers_what_the_profile_says(vectors):
    log = parse_event_log(vectors.read_log(TOOLS + "event-bootorder.bin"))
    for ev in _by_type(log, "EV_EFI_VARIABLE_DRIVER_CONFIG"):
        assert ev.digests["sha256"] == hashlib.sha256(ev.data).digest()
        var = ev.decoded
        rebuilt = uefi.efi_variable_data(var.guid, var.name, var.data)
        assert rebuilt == ev.data
    for ev in _by_type(log, "EV_EFI_VARIABLE_BOOT"):
        assert ev.digests["sha256"] == hashlib.sha256(ev.decoded.data).digest()


def _tpm2_tools_device_paths(yaml_text: str) -> dict[int, list[str]]:
    """DevicePath strings per event index, as tpm2-tools printed them."""
    paths: dict[int, list[str]] = {}
    current = -1
    numbered = "EventNum:" in yaml_text  # SHA-1 logs are printed without EventNum
    for line in yaml_text.splitlines():
        m = re.match(r"- EventNum: (\d+)", line)
        if m:
            current = int(m.group(1))
        elif not numbered and line.startswith("  PCRIndex:"):
            current += 1
        m = re.search(r"DevicePath: '(.*)'$", line)
        if m and m.group(1):
            paths.setdefault(current, []).append(m.group(1))
    return paths


@pytest.mark.parametrize(
    "name",
    [
        "event-arch-linux.bin",
        "event-bootorder.bin",
        "event-gce-ubuntu-2104-log.bin",
        "event-postcode.bin",
        "event-moklisttrusted.bin",
        "event-uefi-sha1-log.bin",
    ],
)
def test_device_paths_render_like_tpm2_tools(name, vectors):
    log = parse_event_log(vectors.read_log(TOOLS + name))
    yaml_text = (vectors.root / TOOLS / "event-pretty" / f"{name}.yaml").read_text()
    compared = 0
    for index, theirs in _tpm2_tools_device_paths(yaml_text).items():
        if any("IPv4" in p for p in theirs):
            continue  # tpm2-tools renders IPv4 nodes wrongly ("0.0.0.00.0.0.0")
        decoded = log.events[index].decoded
        ours = decoded.device_path if isinstance(decoded, ImageLoad) else decoded.value.device_path
        assert ours in theirs
        compared += 1
    assert compared >= 1


def test_option_rom_driver_path_names_the_pci_slot(vectors):
    log = parse_event_log(vectors.read_log("go-attestation/attest/testdata/option_rom_eventlog"))
    drivers = _by_type(log, "EV_EFI_BOOT_SERVICES_DRIVER")
    assert [d.pcr for d in drivers] == [2]
    assert drivers[0].decoded.device_path == (
        "PciRoot(0x0)/Pci(0x2,0x0)/Pci(0x0,0x0)/Offset(0xf600,0x207ff)"
    )


def test_gpt_and_firmware_blobs_are_decoded(vectors):
    log = parse_event_log(vectors.read_log(TOOLS + "event-bootorder.bin"))
    (gpt_event,) = _by_type(log, "EV_EFI_GPT_EVENT")
    gpt = gpt_event.decoded
    assert isinstance(gpt, GptData)
    assert gpt_event.digests["sha256"] == hashlib.sha256(gpt_event.data).digest()
    assert len(gpt.partitions) == 3
    assert gpt.partitions[2].unique_guid == "c359e798-596a-42b6-b6f6-eca290429d99"
    assert gpt.partitions[2].first_lba == 0x2800
    assert gpt.disk_guid == "07081ba2-7cc9-4663-8ecf-4692ccb7e3ec"
    blob = log.events[2].decoded
    assert blob == FirmwareBlob(base=0x820000, length=0xE0000)
    assert log.events[1].type_name == "EV_S_CRTM_VERSION"
    assert isinstance(_by_type(log, "EV_SEPARATOR")[0].decoded, Separator)


def test_actions_are_text(vectors):
    log = parse_event_log(vectors.read_log(TOOLS + "event-bootorder.bin"))
    texts = [e.decoded.text for e in _by_type(log, "EV_EFI_ACTION")]
    assert "Calling EFI Application from Boot Option" in texts
    assert "Exit Boot Services Invocation" in texts


def test_every_payload_of_every_log_decodes_strictly(vectors):
    for name in vectors.expected:
        log = parse_event_log(vectors.read_log(name), strict=True)
        assert all(e.summary() is not None for e in log.events)


def test_writer_reproduces_a_real_log_byte_for_byte(vectors):
    raw = vectors.read_log(TOOLS + "event-bootorder.bin")
    log = parse_event_log(raw)
    assert serialize_crypto_agile(log.events, list(log.banks)) == raw


# --- malformed input --------------------------------------------------------------------------


def test_every_truncation_of_a_log_is_either_a_shorter_log_or_the_parse_error(vectors):
    raw = vectors.read_log(TOOLS + "event-bootorder.bin")[:3000]
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


def test_huge_event_size_is_reported_not_allocated(vectors):
    raw = bytearray(vectors.read_log(TOOLS + "event-uefivar.bin"))
    log = parse_event_log(bytes(raw))
    second = log.events[1]
    struct.pack_into("<I", raw, second.data_offset - 4, 0xFFFFFFF0)
    with pytest.raises(EventLogError, match="exceeds") as info:
        parse_event_log(bytes(raw))
    assert info.value.offset == second.data_offset - 4


def test_unknown_digest_algorithm_is_rejected(vectors):
    raw = bytearray(vectors.read_log(TOOLS + "event-uefivar.bin"))
    second = parse_event_log(bytes(raw)).events[1]
    struct.pack_into("<H", raw, second.offset + 12, 0x0099)
    with pytest.raises(EventLogError, match="not in the Spec ID"):
        parse_event_log(bytes(raw))


def test_out_of_range_pcr_is_rejected(vectors):
    raw = bytearray(vectors.read_log(TOOLS + "event-uefivar.bin"))
    second = parse_event_log(bytes(raw)).events[1]
    struct.pack_into("<I", raw, second.offset, 24)
    with pytest.raises(EventLogError, match="PCR index 24"):
        parse_event_log(bytes(raw))


def test_spec_id_event_with_trailing_bytes_is_rejected(vectors):
    raw = bytearray(vectors.read_log(TOOLS + "event-uefivar.bin"))
    size = struct.unpack_from("<I", raw, 28)[0]
    struct.pack_into("<I", raw, 28, size + 1)
    with pytest.raises(EventLogError):
        parse_event_log(bytes(raw))


@pytest.mark.parametrize("name", public_vectors.log_names())
def test_fast_replay_from_bytes_equals_parse_and_replay(name, vectors):
    raw = vectors.read_log(name)
    assert replay_log(raw) == replay(parse_event_log(raw))


def test_fast_replay_reports_the_same_errors(vectors):
    raw = vectors.read_log(TOOLS + "event-bootorder.bin")
    for cut in (100, 777, 5000):
        with pytest.raises(EventLogError) as slow:
            replay(parse_event_log(raw[:cut]))
        with pytest.raises(EventLogError) as fast:
            replay_log(raw[:cut])
        assert str(fast.value) == str(slow.value)
