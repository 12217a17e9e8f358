"""Server side of TPM enrolment, in pure Python (``cryptography`` only: the server has no TPM).

Enrolment proves that the attestation key (AK) a node reports lives in the same TPM as its
endorsement key (EK): the verifier wraps a random secret to the EK, bound to the AK's name
(``make_credential``, TPM 2.0 Part 1 §24); only that TPM can unwrap it with ActivateCredential,
and only if the AK with exactly that name is loaded. The AK must be a restricted signing key
(``check_ak_attributes``); the EK certificate, when present, must carry the EK's public key
(``check_ek_certificate``).

Every malformed input raises ``EnrolmentError`` with a one-line reason.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

__all__ = [
    "EnrolmentError",
    "TpmPublic",
    "ak_name",
    "check_ak_attributes",
    "check_ek_certificate",
    "make_credential",
    "parse_public",
]


class EnrolmentError(ValueError):
    """Bad enrolment evidence: malformed TPM structure, wrong key type or attributes."""


TPM_ALG_RSA = 0x0001
TPM_ALG_SHA1 = 0x0004
TPM_ALG_HMAC = 0x0005
TPM_ALG_AES = 0x0006
TPM_ALG_KEYEDHASH = 0x0008
TPM_ALG_SHA256 = 0x000B
TPM_ALG_SHA384 = 0x000C
TPM_ALG_SHA512 = 0x000D
TPM_ALG_NULL = 0x0010
TPM_ALG_RSASSA = 0x0014
TPM_ALG_RSAPSS = 0x0016
TPM_ALG_ECDSA = 0x0018
TPM_ALG_ECC = 0x0023
TPM_ALG_CFB = 0x0043

HASHES = {
    TPM_ALG_SHA1: "sha1",
    TPM_ALG_SHA256: "sha256",
    TPM_ALG_SHA384: "sha384",
    TPM_ALG_SHA512: "sha512",
}
CURVES = {0x0003: ec.SECP256R1, 0x0004: ec.SECP384R1, 0x0005: ec.SECP521R1}

# TPMA_OBJECT bits
FIXED_TPM = 1 << 1
FIXED_PARENT = 1 << 4
SENSITIVE_DATA_ORIGIN = 1 << 5
USER_WITH_AUTH = 1 << 6
RESTRICTED = 1 << 16
DECRYPT = 1 << 17
SIGN = 1 << 18
AK_REQUIRED = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | RESTRICTED | SIGN


@dataclass(frozen=True)
class TpmPublic:
    """A parsed TPMT_PUBLIC (the fields enrolment and quote verification need)."""

    type: int
    name_alg: int
    attributes: int
    auth_policy: bytes
    symmetric: tuple[int, int, int]  # (algorithm, key bits, mode); (NULL, 0, 0) if none
    scheme: int
    scheme_hash: int
    rsa_bits: int
    rsa_exponent: int
    curve: int
    unique: tuple[bytes, ...]  # (modulus,) for RSA, (x, y) for ECC
    tpmt: bytes  # the marshalled TPMT_PUBLIC, hashed into the name

    def public_key(self) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
        """The key as a ``cryptography`` object."""
        if self.type == TPM_ALG_RSA:
            e = self.rsa_exponent or 65537
            return rsa.RSAPublicNumbers(e, int.from_bytes(self.unique[0], "big")).public_key()
        curve = CURVES.get(self.curve)
        if curve is None:
            raise EnrolmentError(f"unsupported ECC curve 0x{self.curve:04x}")
        x, y = (int.from_bytes(v, "big") for v in self.unique)
        try:
            return ec.EllipticCurvePublicNumbers(x, y, curve()).public_key()
        except ValueError:
            raise EnrolmentError("ECC point is not on the curve") from None


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.off = data, 0

    def take(self, n: int) -> bytes:
        if self.off + n > len(self.data):
            raise EnrolmentError(f"truncated TPM structure at byte {self.off}")
        out = self.data[self.off : self.off + n]
        self.off += n
        return out

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def tpm2b(self) -> bytes:
        return self.take(self.u16())


def parse_public(data: bytes) -> TpmPublic:
    """Parse a marshalled TPM2B_PUBLIC (as tpm2-pytss ``marshal()`` and tpm2_readpublic write)."""
    outer = _Reader(data)
    tpmt = outer.tpm2b()
    if outer.off != len(data):
        raise EnrolmentError("trailing bytes after TPM2B_PUBLIC")
    r = _Reader(tpmt)
    type_, name_alg, attrs = r.u16(), r.u16(), r.u32()
    policy = r.tpm2b()
    if type_ not in (TPM_ALG_RSA, TPM_ALG_ECC):
        raise EnrolmentError(f"unsupported key type 0x{type_:04x}")
    if name_alg not in HASHES:
        raise EnrolmentError(f"unsupported name algorithm 0x{name_alg:04x}")
    sym_alg = r.u16()
    sym = (sym_alg, r.u16(), r.u16()) if sym_alg != TPM_ALG_NULL else (TPM_ALG_NULL, 0, 0)
    scheme = r.u16()
    scheme_hash = r.u16() if scheme != TPM_ALG_NULL else TPM_ALG_NULL
    bits = exponent = curve = 0
    if type_ == TPM_ALG_RSA:
        bits, exponent = r.u16(), r.u32()
        unique: tuple[bytes, ...] = (r.tpm2b(),)
    else:
        curve = r.u16()
        kdf = r.u16()
        if kdf != TPM_ALG_NULL:
            r.u16()
        unique = (r.tpm2b(), r.tpm2b())
    if r.off != len(tpmt):
        raise EnrolmentError("trailing bytes inside TPMT_PUBLIC")
    return TpmPublic(
        type_,
        name_alg,
        attrs,
        policy,
        sym,
        scheme,
        scheme_hash,
        bits,
        exponent,
        curve,
        unique,
        tpmt,
    )


def ak_name(public: bytes | TpmPublic) -> bytes:
    """TPM name of a key: nameAlg (2 bytes) || H_nameAlg(TPMT_PUBLIC)."""
    pub = public if isinstance(public, TpmPublic) else parse_public(public)
    return struct.pack(">H", pub.name_alg) + hashlib.new(HASHES[pub.name_alg], pub.tpmt).digest()


def check_ak_attributes(public: bytes | TpmPublic) -> TpmPublic:
    """Accept only a TPM-resident restricted signing key that can sign quotes; return it parsed.

    Required: fixedTPM, fixedParent, sensitiveDataOrigin, restricted, sign; not decrypt; a
    signing scheme with a known hash (ECDSA, RSASSA or RSAPSS).
    """
    pub = public if isinstance(public, TpmPublic) else parse_public(public)
    missing = [
        name
        for bit, name in (
            (FIXED_TPM, "fixedTPM"),
            (FIXED_PARENT, "fixedParent"),
            (SENSITIVE_DATA_ORIGIN, "sensitiveDataOrigin"),
            (RESTRICTED, "restricted"),
            (SIGN, "sign"),
        )
        if not pub.attributes & bit
    ]
    if missing:
        raise EnrolmentError(f"AK lacks attribute(s): {', '.join(missing)}")
    if pub.attributes & DECRYPT:
        raise EnrolmentError("AK is a decryption key: an AK must only sign")
    allowed = {TPM_ALG_ECC: {TPM_ALG_ECDSA}, TPM_ALG_RSA: {TPM_ALG_RSASSA, TPM_ALG_RSAPSS}}
    if pub.scheme not in allowed[pub.type] or pub.scheme_hash not in HASHES:
        raise EnrolmentError("AK has no usable signing scheme (need ECDSA/RSASSA/RSAPSS + hash)")
    pub.public_key()  # raises on a point off the curve
    return pub


def _kdfa(
    hash_name: str, key: bytes, label: bytes, context_u: bytes, context_v: bytes, bits: int
) -> bytes:
    """KDFa (TPM 2.0 Part 1 §11.4.10.2): counter-mode HMAC KDF."""
    out = b""
    counter = 1
    while len(out) * 8 < bits:
        msg = struct.pack(">I", counter) + label + b"\0" + context_u + context_v
        out += hmac.new(key, msg + struct.pack(">I", bits), hash_name).digest()
        counter += 1
    return out[: bits // 8]


def make_credential(
    ek_public: bytes | TpmPublic, ak_name_: bytes, secret: bytes | None = None
) -> tuple[bytes, bytes]:
    """Wrap a fresh secret to an RSA EK, bound to the AK name -> (blob, secret).

    ``blob`` is the marshalled TPM2B_ID_OBJECT followed by the marshalled TPM2B_ENCRYPTED_SECRET,
    exactly what TPM2_ActivateCredential takes. The node proves possession by returning ``secret``.
    """
    ek = ek_public if isinstance(ek_public, TpmPublic) else parse_public(ek_public)
    if ek.type != TPM_ALG_RSA:
        raise EnrolmentError("only RSA endorsement keys are supported for MakeCredential")
    if not ek.attributes & RESTRICTED or not ek.attributes & DECRYPT:
        raise EnrolmentError("EK must be a restricted decryption key")
    sym_alg, sym_bits, sym_mode = ek.symmetric
    if sym_alg != TPM_ALG_AES or sym_mode != TPM_ALG_CFB or sym_bits not in (128, 256):
        raise EnrolmentError("EK symmetric algorithm must be AES-CFB")
    if not 2 <= len(ak_name_) <= 66:
        raise EnrolmentError("AK name has an implausible length")
    secret = os.urandom(32) if secret is None else secret
    if not 1 <= len(secret) <= 64:
        raise EnrolmentError("credential secret must be 1..64 bytes")
    hash_name = HASHES[ek.name_alg]
    digest_size = hashlib.new(hash_name).digest_size
    seed = os.urandom(digest_size)
    key = ek.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    algo = {
        "sha1": hashes.SHA1,
        "sha256": hashes.SHA256,
        "sha384": hashes.SHA384,
        "sha512": hashes.SHA512,
    }[hash_name]()
    enc_seed = key.encrypt(
        seed, padding.OAEP(mgf=padding.MGF1(algo), algorithm=algo, label=b"IDENTITY\0")
    )
    sym_key = _kdfa(hash_name, seed, b"STORAGE", ak_name_, b"", sym_bits)
    plaintext = struct.pack(">H", len(secret)) + secret
    encryptor = Cipher(algorithms.AES(sym_key), CFB(b"\0" * 16)).encryptor()
    enc_identity = encryptor.update(plaintext) + encryptor.finalize()
    hmac_key = _kdfa(hash_name, seed, b"INTEGRITY", b"", b"", digest_size * 8)
    outer_hmac = hmac.new(hmac_key, enc_identity + ak_name_, hash_name).digest()
    id_object = struct.pack(">H", len(outer_hmac)) + outer_hmac + enc_identity
    blob = struct.pack(">H", len(id_object)) + id_object
    blob += struct.pack(">H", len(enc_seed)) + enc_seed
    return blob, secret


def check_ek_certificate(
    cert_der: bytes, ek_public: bytes | TpmPublic, issuers: list[bytes] | None = None
) -> x509.Certificate:
    """Parse an EK certificate (DER or PEM), check it certifies this EK; optionally its issuer.

    ``issuers``: DER/PEM certificates of acceptable issuing CAs; when given, the EK certificate's
    signature must verify under one of them.
    """
    ek = ek_public if isinstance(ek_public, TpmPublic) else parse_public(ek_public)
    cert = _load_cert(cert_der, "EK certificate")
    cert_key = cert.public_key()
    ek_key = ek.public_key()
    if (isinstance(cert_key, rsa.RSAPublicKey) and isinstance(ek_key, rsa.RSAPublicKey)) or (
        isinstance(cert_key, ec.EllipticCurvePublicKey)
        and isinstance(ek_key, ec.EllipticCurvePublicKey)
    ):
        same = cert_key.public_numbers() == ek_key.public_numbers()
    else:
        same = False
    if not same:
        raise EnrolmentError("EK certificate does not certify this endorsement key")
    if issuers:
        for raw in issuers:
            issuer = _load_cert(raw, "issuer certificate")
            try:
                cert.verify_directly_issued_by(issuer)
                return cert
            except (InvalidSignature, ValueError, TypeError):
                continue
        raise EnrolmentError("EK certificate is not signed by any accepted manufacturer CA")
    return cert


def _load_cert(raw: bytes, what: str) -> x509.Certificate:
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except ValueError:
        raise EnrolmentError(f"{what} is not a valid X.509 certificate") from None
