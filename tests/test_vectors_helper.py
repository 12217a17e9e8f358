"""tests/vectors.py: the one way the suite finds the public event-log vectors."""

import base64
import json

import pytest

from tests import vectors


def test_unset_or_empty_means_absent():
    assert vectors.locate(None) is None
    assert vectors.locate("  ") is None


def test_a_folder_without_the_vectors_stops_the_run_with_the_reason(tmp_path):
    with pytest.raises(pytest.UsageError, match="is not a testdata folder") as info:
        vectors.locate(str(tmp_path))
    assert str(tmp_path / "eventlogs" / "expected.json") in str(info.value)


def test_a_testdata_folder_gives_its_logs(tmp_path):
    root = tmp_path / "eventlogs"
    (root / "vendor").mkdir(parents=True)
    (root / "expected.json").write_text(json.dumps({"vendor/a.bin": {}, "vendor/b.json": {}}))
    (root / "vendor" / "a.bin").write_bytes(b"\x01\x02")
    doc = {"Log": {"Raw": base64.b64encode(b"\x03\x04").decode()}}
    (root / "vendor" / "b.json").write_text(json.dumps(doc))
    found = vectors.locate(str(tmp_path))
    assert found.root == root.resolve()
    assert found.read_log("vendor/a.bin") == b"\x01\x02"
    assert found.read_log("vendor/b.json") == b"\x03\x04"  # go-attestation dumps: Log.Raw
