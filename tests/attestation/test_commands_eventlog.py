"""``manage.py eventlog``: readable listing, JSON output, one-line errors with a failing exit."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("HEATSITE_SHARED") or REPO.parent / "shared")
FIXTURES = SHARED / "testdata" / "eventlogs" / "tpm2-tools" / "test" / "integration" / "fixtures"
EXPECTED = json.loads((SHARED / "testdata" / "eventlogs" / "expected.json").read_text())
BOOTORDER = FIXTURES / "event-bootorder.bin"
BOOTORDER_PCRS = EXPECTED["tpm2-tools/test/integration/fixtures/event-bootorder.bin"]["pcrs"]


def run(*args):
    out = StringIO()
    call_command("eventlog", *args, stdout=out)
    return out.getvalue()


def test_listing_shows_events_and_replayed_pcrs():
    text = run(str(BOOTORDER))
    assert "crypto-agile log, 104 events, banks sha1, sha256" in text
    assert "EV_EFI_VARIABLE_BOOT" in text
    assert "BootOrder = Boot0001,Boot0000,Boot0002" in text
    assert "PciRoot(0x0)/Pci(0x3,0x0)/Offset(0x15c00,0x47fff)" in text
    assert f"   7: {BOOTORDER_PCRS['sha256']['7']}" in text
    assert f"   0: {BOOTORDER_PCRS['sha1']['0']}" in text


def test_json_output_has_every_bank_and_event():
    doc = json.loads(run(str(BOOTORDER), "--json"))
    assert set(doc["banks"]) == {"sha1", "sha256"}
    for bank, values in BOOTORDER_PCRS.items():
        for index, value in values.items():
            assert doc["banks"][bank][index] == value
    assert len(doc["banks"]["sha256"]) == 24
    assert len(doc["events"]) == 104
    first_driver = next(e for e in doc["events"] if e["type"] == "EV_EFI_BOOT_SERVICES_DRIVER")
    assert first_driver["pcr"] == 2
    assert len(first_driver["digests"]["sha256"]) == 64


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty event log"),
        (BOOTORDER.read_bytes()[:1000], "truncated"),
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
    path.write_bytes(BOOTORDER.read_bytes()[:777])
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


def test_good_file_exits_zero_in_a_subprocess():
    proc = subprocess.run(
        [sys.executable, "manage.py", "eventlog", "--json", str(BOOTORDER)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["banks"]["sha256"]["7"] == BOOTORDER_PCRS["sha256"]["7"]
