"""``manage.py eventlog``: readable listing, JSON output, one-line errors with a failing exit."""

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.attestation.tcg.eventlog import parse_event_log
from tests.attestation.eventlog_samples import sample

REPO = Path(__file__).resolve().parents[2]
LAB = sample("lab-nics-1.5.0")  # the lab node with two NICs, as the lab boots it


def run(*args):
    out = StringIO()
    call_command("eventlog", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def lab_log(tmp_path):
    path = tmp_path / "binary_bios_measurements"
    path.write_bytes(LAB.raw)
    return path


def test_listing_shows_events_and_replayed_pcrs(lab_log):
    text = run(str(lab_log))
    assert "crypto-agile log, 27 events, banks sha1, sha256" in text
    assert "EV_EFI_VARIABLE_BOOT" in text
    assert "BootOrder = Boot0002,Boot0001" in text
    assert "PciRoot(0x0)/Pci(0x5,0x0)/Offset(0x200,0x9ff)" in text
    assert f"   7: {LAB.pcrs['sha256'][7]}" in text
    assert f"   0: {LAB.pcrs['sha1'][0]}" in text
    assert f"   2: {LAB.pcrs['sha1'][2]}" in text


def test_json_output_has_every_bank_and_event(lab_log):
    doc = json.loads(run(str(lab_log), "--json"))
    assert set(doc["banks"]) == {"sha1", "sha256"}
    for bank, values in LAB.pcrs.items():
        for index, value in values.items():
            assert doc["banks"][bank][str(index)] == value
    assert len(doc["banks"]["sha256"]) == 24
    assert len(doc["events"]) == 27
    first_driver = next(e for e in doc["events"] if e["type"] == "EV_EFI_BOOT_SERVICES_DRIVER")
    assert first_driver["pcr"] == 2
    assert len(first_driver["digests"]["sha256"]) == 64


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty event log"),
        (LAB.raw[:1000], "truncated"),
        (b"garbage " * 10, "exceeds"),
    ],
)
def test_bad_file_is_a_command_error_with_the_reason(tmp_path, content, reason):
    path = tmp_path / "log.bin"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=reason):
        run(str(path))


def test_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run(str(tmp_path / "absent.bin"))


def test_bad_file_exits_non_zero_with_one_line_and_no_traceback(tmp_path):
    path = tmp_path / "log.bin"
    path.write_bytes(LAB.raw[: parse_event_log(LAB.raw).events[5].offset + 6])  # mid-header
    proc = subprocess.run(
        [sys.executable, "manage.py", "eventlog", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "truncated" in lines[0] and "offset" in lines[0]


def test_good_file_exits_zero_in_a_subprocess(lab_log):
    proc = subprocess.run(
        [sys.executable, "manage.py", "eventlog", "--json", str(lab_log)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["banks"]["sha256"]["7"] == LAB.pcrs["sha256"][7]


# --- a real firmware's log from the public vectors (optional: tests/vectors.py) -----------------


@pytest.mark.vectors
def test_listing_of_a_real_firmware_log(vectors):
    name = "tpm2-tools/test/integration/fixtures/event-bootorder.bin"
    stated = vectors.expected[name]["pcrs"]
    text = run(str(vectors.path(name)))
    assert "crypto-agile log, 104 events, banks sha1, sha256" in text
    assert "BootOrder = Boot0001,Boot0000,Boot0002" in text
    assert "PciRoot(0x0)/Pci(0x3,0x0)/Offset(0x15c00,0x47fff)" in text
    assert f"   7: {stated['sha256']['7']}" in text
    assert f"   0: {stated['sha1']['0']}" in text
    doc = json.loads(run(str(vectors.path(name)), "--json"))
    assert len(doc["events"]) == 104
    for bank, values in stated.items():
        for index, value in values.items():
            assert doc["banks"][bank][index] == value
