"""``manage.py verify_quote`` on real tpm2-tools output: exit 0 only for a valid quote."""

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.attestation.tcg.eventlog import extend
from apps.attestation.tcg.tpm2tools import DEMO_NONCE, shared_demo_artefacts

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def demo():
    return shared_demo_artefacts()


def args_for(art, **over):
    values = {
        "--ak-public": str(art.ak_public_tss),
        "--message": str(art.message),
        "--signature": str(art.signature),
        "--nonce": DEMO_NONCE.hex(),
        "--pcrs": str(art.pcrs),
    }
    values.update(over)
    return [item for pair in values.items() for item in pair]


def run(args):
    out = StringIO()
    call_command("verify_quote", *args, stdout=out)
    return out.getvalue()


def altered_copy(tmp_path, source, mutate):
    data = bytearray(source.read_bytes())
    mutate(data)
    path = tmp_path / source.name
    path.write_bytes(bytes(data))
    return str(path)


@pytest.mark.parametrize("ak", ["ak_public_tss", "ak_public_pem"])
def test_valid_quote_prints_verdict_clock_and_pcrs(demo, ak):
    text = run(args_for(demo.ecc, **{"--ak-public": str(getattr(demo.ecc, ak))}))
    assert text.startswith("VALID quote")
    assert "resetCount" in text and "restartCount" in text
    assert "sha256:" in text
    pcr7 = bytes(32)
    for digest in demo.extended[7]:
        pcr7 = extend("sha256", pcr7, bytes.fromhex(digest))
    assert f"   7: {pcr7.hex()}" in text
    pcr_lines = [line for line in text.splitlines() if line.startswith("   ")]
    assert len(pcr_lines) == 8 and all(len(line.split(": ")[1]) == 64 for line in pcr_lines)


def test_rsa_quote_with_selection_check(demo):
    assert "selection" in run([*args_for(demo.rsa), "--selection", "sha256:0,1,2,3,4,5,6,7"])


@pytest.mark.parametrize(
    ("name", "override", "reason"),
    [
        ("wrong nonce", {"--nonce": "00ff"}, "(nonce)"),
        ("another TPM's AK", "other_ak", "(signature)"),
        ("altered message", "message", "(signature)"),
        ("altered signature", "signature", "(signature)"),
        ("altered PCR file", "pcrs", "(pcr_digest)"),
        ("truncated message", "truncated", "(malformed)"),
        ("nonce not hex", {"--nonce": "xyz"}, "not hex"),
        ("missing file", {"--message": "/nonexistent/quote.msg"}, "cannot read"),
    ],
)
def test_invalid_evidence_is_a_command_error_with_the_reason(
    demo, tmp_path, name, override, reason
):
    art = demo.ecc
    if override == "other_ak":
        override = {"--ak-public": str(demo.other_ak_pem)}
    elif override == "message":
        override = {
            "--message": altered_copy(tmp_path, art.message, lambda d: d.__setitem__(-5, d[-5] ^ 1))
        }
    elif override == "signature":
        override = {
            "--signature": altered_copy(
                tmp_path, art.signature, lambda d: d.__setitem__(-3, d[-3] ^ 1)
            )
        }
    elif override == "pcrs":
        override = {
            "--pcrs": altered_copy(tmp_path, art.pcrs, lambda d: d.__setitem__(150, d[150] ^ 1))
        }
    elif override == "truncated":
        override = {
            "--message": altered_copy(
                tmp_path, art.message, lambda d: d.__delitem__(slice(60, None))
            )
        }
    with pytest.raises(CommandError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        run(args_for(art, **override))


def _subprocess(args):
    return subprocess.run(
        [sys.executable, "manage.py", "verify_quote", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_exit_status_is_zero_only_for_a_valid_quote(demo, tmp_path):
    good = _subprocess(args_for(demo.ecc))
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("VALID")
    bad = _subprocess(args_for(demo.ecc, **{"--nonce": "00ff"}))
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        "CommandError: INVALID quote (nonce): nonce mismatch: the quote answers another "
        "challenge (replay?)"
    ]
