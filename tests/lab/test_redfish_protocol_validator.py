"""DMTF's Redfish-Protocol-Validator against a lab BMC: DSP0266's protocol assertions (URIs,
methods, headers, status codes, sessions, ETags, error bodies, TLS, authentication), run by a
tool nobody here wrote, on loopback only (`loopback_protocol_validator`)."""

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).parent / "loopback_protocol_validator.py"


def test_dmtfs_protocol_validator_finds_no_failure_in_the_lab(dual_lab, tmp_path):
    endpoint = dual_lab.redfish.endpoint(0)
    # its requests without credentials ignore --ca-bundle and verify against requests' default
    env = {**os.environ, "REQUESTS_CA_BUNDLE": endpoint.cert_path}
    command = [
        sys.executable, str(RUNNER),
        "--rhost", endpoint.base_url,
        "--user", endpoint.username,
        "--password", endpoint.password,
        "--ca-bundle", endpoint.cert_path,
        "--report-dir", str(tmp_path),
        "--report-type", "tsv",
        "--avoid-http-redirect",  # the lab has no plain-HTTP port to redirect from
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path, check=False
    )
    (report,) = tmp_path.glob("*.tsv")
    with report.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    failures = [
        f"{r['Assertion']} {r['Method']} {r['URI']} {r['Status code']}: {r['Message']}"
        for r in rows
        if r["Result"] in ("FAIL", "WARN")
    ]
    assert failures == []
    counts = json.loads((tmp_path / "results.json").read_text())["TestResults"]
    validations = counts["Protocol Validations"]
    assert validations["fail"] == validations["warn"] == 0
    assert validations["pass"] > 250, validations
    assert result.returncode == 0, result.stderr[-2000:]
    # the lab was driven through its real stack: sessions made by the validator are gone
    assert dual_lab.redfish.service(0).sessions == {}


def test_the_validators_sockets_refuse_anything_but_loopback(monkeypatch):
    from tests.lab import loopback_protocol_validator as runner

    sent = []  # what reached the real socket methods (replaced: this test sends nothing)
    monkeypatch.setattr(runner._Socket, "sendto", lambda self, data, *a: sent.append(a[-1]))
    monkeypatch.setattr(runner._Socket, "connect", lambda self, address: sent.append(address))
    udp = runner.LoopbackSocket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = runner.LoopbackSocket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        with pytest.raises(OSError, match="not a loopback address"):
            udp.sendto(b"M-SEARCH * HTTP/1.1\r\n\r\n", ("239.255.255.250", 1900))
        with pytest.raises(OSError, match="not a loopback address"):
            tcp.connect(("ff02::c", 1900, 0, 0))
        udp.sendto(b"x", ("127.0.0.1", 9))
        tcp.connect(("::1", 443, 0, 0))
    finally:
        udp.close()
        tcp.close()
    assert sent == [("127.0.0.1", 9), ("::1", 443, 0, 0)]
