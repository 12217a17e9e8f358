"""TPM2 quote parsing and verification, against real swtpm + tpm2-tools artefacts and, when the
public vectors are present (tests/vectors.py), a real cloud vTPM quote (go-attestation's
windows_gcp_shielded_vm.json)."""

import base64
import json
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from apps.attestation.tcg.eventlog import extend, parse_event_log, replay
from apps.attestation.tcg.quote import (
    AkPublic,
    ClockInfo,
    QuoteError,
    check_clock,
    parse_attest,
    parse_pcr_values_file,
    parse_public,
    parse_signature,
    pcr_digest,
    verify_quote,
)
from apps.attestation.tcg.tpm2tools import DEMO_NONCE, checkquote, shared_demo_artefacts
from tests.attestation.eventlog_samples import sample

GCP = "go-attestation/attest/testdata/windows_gcp_shielded_vm.json"
SELECTION = "sha256:0,1,2,3,4,5,6,7"


@pytest.fixture(scope="session")
def demo():
    return shared_demo_artefacts()


def expected_pcrs(demo):
    values = {}
    for pcr, digests in demo.extended.items():
        value = bytes(32)
        for digest in digests:
            value = extend("sha256", value, bytes.fromhex(digest))
        values[pcr] = value
    return {"sha256": values}


def files(art):
    return (art.message.read_bytes(), art.signature.read_bytes(), art.pcrs.read_bytes())


@pytest.mark.parametrize("kind", ["ecc", "rsa"])
@pytest.mark.parametrize("ak_form", ["tss", "pem"])
def test_tpm2_tools_quote_verifies_and_carries_the_extended_pcrs(demo, kind, ak_form):
    art = getattr(demo, kind)
    ak_file = art.ak_public_tss if ak_form == "tss" else art.ak_public_pem
    message, signature, pcr_file = files(art)
    pcrs = parse_pcr_values_file(pcr_file)
    assert pcrs == expected_pcrs(demo)
    result = verify_quote(ak_file.read_bytes(), message, signature, DEMO_NONCE, pcrs, SELECTION)
    assert result.valid
    assert result.checks == ["signature", "magic", "type", "nonce", "selection", "pcr_digest"]
    assert result.attest.pcr_selection == [("sha256", tuple(range(8)))]
    assert result.signature.scheme_name == ("ecdsa" if kind == "ecc" else "rsassa")
    assert result.clock_info.reset_count >= 0 and result.clock_info.safe


def test_tpm2b_public_gives_attributes_and_the_tpm_name(demo):
    ak = parse_public(demo.ecc.ak_public_tss.read_bytes())
    assert {"restricted", "sign", "fixedtpm"} <= set(ak.attribute_names)
    assert ak.name == (demo.ecc.directory / "ak.name").read_bytes()
    assert isinstance(ak.key, ec.EllipticCurvePublicKey)


def test_tpm2_checkquote_agrees_on_the_same_files(demo):
    assert checkquote(demo.ecc)
    assert not checkquote(demo.ecc, ak_public=demo.other_ak_pem)


def test_wrong_nonce_is_rejected(demo):
    message, signature, _ = files(demo.ecc)
    with pytest.raises(QuoteError) as info:
        verify_quote(demo.ecc.ak_public_tss.read_bytes(), message, signature, b"other nonce")
    assert info.value.code == "nonce"


def test_altered_message_byte_is_rejected(demo):
    message, signature, _ = files(demo.ecc)
    altered = bytearray(message)
    altered[-10] ^= 1  # inside the pcrDigest
    with pytest.raises(QuoteError) as info:
        verify_quote(demo.ecc.ak_public_pem.read_bytes(), bytes(altered), signature, DEMO_NONCE)
    assert info.value.code == "signature"


@pytest.mark.parametrize("kind", ["ecc", "rsa"])
def test_altered_signature_is_rejected(demo, kind):
    art = getattr(demo, kind)
    message, signature, _ = files(art)
    altered = bytearray(signature)
    altered[-5] ^= 0x40
    with pytest.raises(QuoteError) as info:
        verify_quote(art.ak_public_tss.read_bytes(), message, bytes(altered), DEMO_NONCE)
    assert info.value.code == "signature"


def test_another_tpms_ak_is_rejected(demo):
    message, signature, _ = files(demo.ecc)
    for ak in (demo.other_ak_pem, demo.other_ak_tss, demo.rsa.ak_public_tss):
        with pytest.raises(QuoteError) as info:
            verify_quote(ak.read_bytes(), message, signature, DEMO_NONCE)
        assert info.value.code == "signature"


def test_altered_pcr_values_are_rejected(demo):
    message, signature, _ = files(demo.ecc)
    pcrs = expected_pcrs(demo)
    pcrs["sha256"][4] = bytes(32)
    with pytest.raises(QuoteError) as info:
        verify_quote(demo.ecc.ak_public_tss.read_bytes(), message, signature, DEMO_NONCE, pcrs)
    assert info.value.code == "pcr_digest"


def test_missing_pcr_value_is_reported(demo):
    message, signature, _ = files(demo.ecc)
    pcrs = expected_pcrs(demo)
    del pcrs["sha256"][7]
    with pytest.raises(QuoteError, match="PCR 7") as info:
        verify_quote(demo.ecc.ak_public_tss.read_bytes(), message, signature, DEMO_NONCE, pcrs)
    assert info.value.code == "pcr_values"


def test_selection_mismatch_is_rejected(demo):
    message, signature, _ = files(demo.ecc)
    ak = demo.ecc.ak_public_tss.read_bytes()
    for wanted in ("sha256:0,1,2,3,4,5,6,7,8", "sha1:0,1,2,3,4,5,6,7", {"sha256": range(7)}):
        with pytest.raises(QuoteError) as info:
            verify_quote(ak, message, signature, DEMO_NONCE, expected_selection=wanted)
        assert info.value.code == "selection"


def test_truncated_structures_are_malformed_at_every_length(demo):
    message, signature, pcr_file = files(demo.ecc)
    ak = demo.ecc.ak_public_tss.read_bytes()
    for cut in range(len(message)):
        with pytest.raises(QuoteError) as info:
            verify_quote(ak, message[:cut], signature, DEMO_NONCE)
        assert info.value.code in {"malformed", "signature"}
    for cut in range(len(signature)):
        with pytest.raises(QuoteError):
            verify_quote(ak, message, signature[:cut], DEMO_NONCE)
    for cut in range(len(ak)):
        with pytest.raises(QuoteError):
            verify_quote(ak[:cut], message, signature, DEMO_NONCE)
    for cut in (0, 10, 135, len(pcr_file) - 1):
        with pytest.raises(QuoteError):
            parse_pcr_values_file(pcr_file[:cut])


def test_truncated_message_reason_names_the_field(demo):
    message = demo.ecc.message.read_bytes()
    with pytest.raises(QuoteError, match="truncated TPMS_ATTEST"):
        parse_attest(message[:30])


def test_unknown_hash_algorithm_is_rejected(demo):
    message, signature, _ = files(demo.ecc)
    bad = bytearray(signature)
    struct.pack_into(">H", bad, 2, 0x00EE)
    with pytest.raises(QuoteError) as info:
        verify_quote(demo.ecc.ak_public_tss.read_bytes(), message, bytes(bad), DEMO_NONCE)
    assert info.value.code == "hash_alg"
    with pytest.raises(QuoteError) as info:
        verify_quote(
            demo.ecc.ak_public_tss.read_bytes(),
            message,
            signature,
            DEMO_NONCE,
            expected_selection="md5:0",
        )
    assert info.value.code == "hash_alg"


def test_a_decrypt_key_is_not_an_attestation_key(demo):
    message, signature, _ = files(demo.ecc)
    public = bytearray(demo.ecc.ak_public_tss.read_bytes())
    attrs = struct.unpack_from(">I", public, 6)[0]
    struct.pack_into(">I", public, 6, attrs | 1 << 17)
    with pytest.raises(QuoteError) as info:
        verify_quote(bytes(public), message, signature, DEMO_NONCE)
    assert info.value.code == "key"


# --- quotes signed here, to reach the checks a TPM never fails ---------------------------------


def marshal_attest(
    nonce,
    digest,
    magic=0xFF544347,
    typ=0x8018,
    clock=(1000, 3, 0, 1),
    bank=0x000B,
    bitmap=b"\xff\0\0",
):
    body = struct.pack(">IH", magic, typ) + struct.pack(">H", 2) + b"\x00\x0b"
    body += struct.pack(">H", len(nonce)) + nonce
    body += struct.pack(">QIIB", *clock) + struct.pack(">Q", 0x20191023)
    body += struct.pack(">IHB", 1, bank, len(bitmap)) + bitmap
    return body + struct.pack(">H", len(digest)) + digest


def ecdsa_sign(key, message):
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return struct.pack(">HH", 0x0018, 0x000B) + b"".join(
        struct.pack(">H", 32) + v.to_bytes(32, "big") for v in (r, s)
    )


@pytest.fixture(scope="module")
def ecc_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.mark.parametrize(
    ("magic", "typ", "code"), [(0xFF544346, 0x8018, "magic"), (0xFF544347, 0x8017, "type")]
)
def test_wrong_magic_or_type_is_rejected_even_when_signed(ecc_key, magic, typ, code):
    attest = marshal_attest(b"n", bytes(32), magic=magic, typ=typ)
    with pytest.raises(QuoteError) as info:
        verify_quote(AkPublic(ecc_key.public_key()), attest, ecdsa_sign(ecc_key, attest), b"n")
    assert info.value.code == code


def test_rsapss_signatures_verify():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    values = {"sha256": {i: bytes([i]) * 32 for i in range(8)}}
    attest = marshal_attest(b"nonce", pcr_digest("sha256", [("sha256", range(8))], values))
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
    raw = key.sign(attest, pss, hashes.SHA256())
    sig = struct.pack(">HHH", 0x0016, 0x000B, len(raw)) + raw
    assert parse_signature(sig).scheme_name == "rsapss"
    result = verify_quote(AkPublic(key.public_key()), attest, sig, b"nonce", values, SELECTION)
    assert result.attest.clock_info == ClockInfo(1000, 3, 0, True)


def test_rsassa_sha1_quote_of_all_sha1_pcrs_verifies_against_a_replayed_log():
    """The shape of a cloud vTPM's quote (RSASSA with SHA-1 over the whole sha1 bank), signed
    here over the values a lab boot's log replays to."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    values = {"sha1": replay(parse_event_log(sample("lab-base").raw), ["sha1"])["sha1"]}
    selection = {"sha1": range(24)}
    digest = pcr_digest("sha1", [("sha1", range(24))], values)
    attest = marshal_attest(b"nonce", digest, bank=0x0004, bitmap=b"\xff\xff\xff")
    raw = key.sign(attest, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 (as vTPMs sign)
    sig = struct.pack(">HHH", 0x0014, 0x0004, len(raw)) + raw
    result = verify_quote(AkPublic(key.public_key()), attest, sig, b"nonce", values, selection)
    assert (result.signature.scheme_name, result.signature.hash_alg) == ("rsassa", "sha1")
    assert result.attest.pcr_selection == [("sha1", tuple(range(24)))]
    assert result.pcr_values["sha1"] == values["sha1"]
    values["sha1"][7] = bytes(20)
    with pytest.raises(QuoteError) as info:
        verify_quote(AkPublic(key.public_key()), attest, sig, b"nonce", values, selection)
    assert info.value.code == "pcr_digest"


def test_marshaled_pcr_file_reads_like_the_serialized_one(demo):
    values = expected_pcrs(demo)["sha256"]
    marshaled = struct.pack(">IHB", 1, 0x000B, 3) + b"\xff\x00\x00" + struct.pack("<I", 1)
    marshaled = marshaled[:-4] + struct.pack(">I", 1) + struct.pack(">I", 8)
    marshaled += b"".join(struct.pack(">H", 32) + values[i] for i in range(8))
    assert parse_pcr_values_file(marshaled) == {"sha256": values}


# --- a real cloud vTPM quote ------------------------------------------------------------------


@pytest.mark.vectors
def test_real_gcp_vtpm_quote_verifies_and_its_log_replays_to_it(vectors):
    doc = json.loads(vectors.path(GCP).read_text())
    b64 = base64.b64decode
    pcrs = {}
    for entry in doc["Log"]["PCRs"]:
        bank = {3: "sha1", 5: "sha256"}[entry["DigestAlg"]]
        pcrs.setdefault(bank, {})[entry["Index"]] = b64(entry["Digest"])
    result = verify_quote(
        b64(doc["AK"]["Public"]),
        b64(doc["Quote"]["Quote"]),
        b64(doc["Quote"]["Signature"]),
        b64(doc["Quote"]["Nonce"] or ""),
        pcrs,
        {"sha1": range(24)},
    )
    assert result.signature.hash_alg == "sha1"
    replayed = replay(parse_event_log(b64(doc["Log"]["Raw"])), ["sha1"])["sha1"]
    for index in (0, 4, 5, 7, 11, 12, 13, 14):
        assert replayed[index] == result.pcr_values["sha1"][index]


# --- clock / reboot detection -----------------------------------------------------------------


def test_check_clock_detects_reboot_restart_and_rollback():
    base = ClockInfo(clock=5000, reset_count=7, restart_count=2, safe=True)
    later = check_clock(base, ClockInfo(6000, 7, 2, True))
    assert later.ok and not later.rebooted and not later.restarted
    rebooted = check_clock(base, ClockInfo(6000, 8, 0, True))
    assert rebooted.rebooted and rebooted.ok
    resumed = check_clock(base, ClockInfo(6000, 7, 3, True))
    assert resumed.restarted and not resumed.rebooted
    assert not check_clock(base, ClockInfo(6000, 6, 2, True)).ok
    assert not check_clock(base, ClockInfo(6000, 7, 1, True)).ok
    assert "clock went backwards" in check_clock(base, ClockInfo(4000, 7, 2, True)).anomalies[0]
    assert check_clock(base, ClockInfo(4000, 8, 0, False)).ok  # unorderly shutdown, then reboot
