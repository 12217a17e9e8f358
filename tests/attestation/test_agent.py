"""The node agent against a real swtpm: enrolment, credential activation, quotes, its channel."""

import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from heatsite_agent.client import AgentClient, AgentError
from heatsite_agent.protocol import auth_header, check_auth

from apps.attestation import enrolment
from apps.attestation.tcg import quote as tcg_quote
from apps.lab.tpm.node import start_fleet
from apps.lab.tpm.sweep import QuoteInvalid, verify_quote


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    fleet = start_fleet(1, tmp_path_factory.mktemp("agent"))
    yield fleet.nodes[0]
    fleet.stop()


@pytest.fixture(scope="module")
def identity(node):
    return node.client().identity()


def test_ak_is_a_restricted_signing_key_whose_name_matches(identity):
    ak = enrolment.check_ak_attributes(identity.ak_public)
    assert enrolment.ak_name(ak) == identity.ak_name
    assert ak.type == enrolment.TPM_ALG_ECC


def test_credential_activation_returns_the_secret_only_for_the_right_ak(node, identity):
    client = node.client()
    blob, secret = enrolment.make_credential(identity.ek_public, identity.ak_name)
    assert client.activate(blob) == secret
    wrong_name = identity.ak_name[:-1] + bytes([identity.ak_name[-1] ^ 1])
    blob, _ = enrolment.make_credential(identity.ek_public, wrong_name)
    with pytest.raises(AgentError, match="integrity check failed") as err:
        client.activate(blob)
    assert not err.value.transient


def test_credential_for_another_tpms_ek_cannot_be_activated(node, identity, tmp_path):
    other = start_fleet(1, tmp_path)
    try:
        other_ek = other.nodes[0].client().identity().ek_public
    finally:
        other.stop()
    assert other_ek != identity.ek_public
    blob, _ = enrolment.make_credential(other_ek, identity.ak_name)
    with pytest.raises(AgentError):
        node.client().activate(blob)


def test_ak_is_recreated_identically_after_a_reboot(node, identity):
    node.boot()
    again = node.client().identity()
    assert (again.ak_public, again.ak_name, again.ek_public) == (
        identity.ak_public,
        identity.ak_name,
        identity.ek_public,
    )


def test_quote_verifies_and_covers_the_booted_pcrs(node, identity):
    ak = tcg_quote.parse_public(identity.ak_public)
    nonce = b"fresh-nonce-0001"
    ev = node.client().quote(nonce)
    first = verify_quote(ak, ev.attest, ev.signature, nonce, ev.pcrs["sha256"])
    assert ev.pcrs["sha256"] == node.last_boot.pcrs["sha256"]
    assert ev.eventlog == node.eventlog_path.read_bytes()
    with pytest.raises(QuoteInvalid, match="nonce"):
        verify_quote(ak, ev.attest, ev.signature, b"other-nonce-0002", ev.pcrs["sha256"])
    altered = {**ev.pcrs["sha256"], 2: "11" * 32}
    with pytest.raises(QuoteInvalid, match="PCR digest"):
        verify_quote(ak, ev.attest, ev.signature, nonce, altered)
    node.boot()
    after = node.client().quote(nonce)
    second = verify_quote(ak, after.attest, after.signature, nonce, after.pcrs["sha256"])
    assert second.clock_info.reset_count > first.clock_info.reset_count


def test_quote_signed_by_another_tpms_ak_is_rejected(node, tmp_path):
    other = start_fleet(1, tmp_path)
    try:
        other_ak = tcg_quote.parse_public(other.nodes[0].client().identity().ak_public)
    finally:
        other.stop()
    nonce = b"fresh-nonce-0003"
    ev = node.client().quote(nonce)
    with pytest.raises(QuoteInvalid, match="signature"):
        verify_quote(other_ak, ev.attest, ev.signature, nonce, ev.pcrs["sha256"])


def test_agent_refuses_a_request_signed_with_the_wrong_token(node):
    client = AgentClient("127.0.0.1", node.agent_port, b"wrong-token", node.cert_fingerprint)
    with pytest.raises(AgentError, match="401") as err:
        client.quote(b"0123456789abcdef")
    assert not err.value.transient


def test_client_refuses_an_agent_with_another_certificate(node):
    client = AgentClient("127.0.0.1", node.agent_port, node.token, "00" * 32)
    with pytest.raises(AgentError, match="pinned"):
        client.identity()


@pytest.mark.parametrize("nonce", [b"", b"short", b"x" * 65])
def test_agent_rejects_bad_nonces_with_a_clear_error(node, nonce):
    with pytest.raises(AgentError, match="nonce") as err:
        node.client().quote(nonce)
    assert not err.value.transient


def test_agent_rejects_a_malformed_credential_blob(node):
    with pytest.raises(AgentError, match="credential blob"):
        node.client().activate(b"\x00\x05abc")


def test_request_mac_binds_method_path_time_and_body():
    token = b"t" * 32
    header = auth_header(token, "POST", "/v1/quote", b"{}", now=1000)
    assert check_auth(token, header, "POST", "/v1/quote", b"{}", now=1000) is None
    assert check_auth(token, header, "POST", "/v1/quote", b"{ }", now=1000) == "bad request MAC"
    assert check_auth(token, header, "POST", "/v1/activate", b"{}", now=1000) == "bad request MAC"
    assert "window" in check_auth(token, header, "POST", "/v1/quote", b"{}", now=2000)
    assert check_auth(token, None, "GET", "/", b"") == "missing authentication header"
    assert check_auth(token, "garbage", "GET", "/", b"") == "malformed authentication header"


def _ek_certificate(ek_public: bytes, ca_key, ca_name):
    ek = enrolment.parse_public(ek_public).public_key()
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca_name)
        .public_key(ek)
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )


def test_ek_certificate_must_certify_this_ek_and_chain_to_an_accepted_ca(identity):
    from cryptography.hazmat.primitives.serialization import Encoding

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TPM Manufacturer CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.datetime.now(datetime.UTC))
        .not_valid_after(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    cert = _ek_certificate(identity.ek_public, ca_key, ca_name).public_bytes(Encoding.DER)
    ca_der = ca.public_bytes(Encoding.DER)
    enrolment.check_ek_certificate(cert, identity.ek_public, [ca_der])
    other_ca = ec.generate_private_key(ec.SECP256R1())
    forged = _ek_certificate(identity.ek_public, other_ca, ca_name).public_bytes(Encoding.DER)
    with pytest.raises(enrolment.EnrolmentError, match="not signed"):
        enrolment.check_ek_certificate(forged, identity.ek_public, [ca_der])
    with pytest.raises(enrolment.EnrolmentError, match="does not certify"):
        enrolment.check_ek_certificate(ca_der, identity.ek_public)
    with pytest.raises(enrolment.EnrolmentError, match=r"X\.509"):
        enrolment.check_ek_certificate(b"junk", identity.ek_public)


def test_ek_is_refused_as_an_ak(identity):
    with pytest.raises(enrolment.EnrolmentError, match="sign"):
        enrolment.check_ak_attributes(identity.ek_public)


@pytest.mark.parametrize("cut", [0, 1, 10, 50])
def test_truncated_public_areas_raise_the_one_enrolment_error(identity, cut):
    with pytest.raises(enrolment.EnrolmentError):
        enrolment.parse_public(identity.ak_public[:cut])


def test_make_credential_refuses_a_non_rsa_ek(identity):
    with pytest.raises(enrolment.EnrolmentError, match="RSA"):
        enrolment.make_credential(identity.ak_public, identity.ak_name)


def test_identity_payload_is_base64_json(node):
    payload = node.agent.identity_payload()
    assert base64.b64decode(payload["ak_public"])
    assert payload["ek_certificate"] is None
