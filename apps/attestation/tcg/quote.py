"""TPM 2.0 quote verification in pure Python (``cryptography`` only).

Wire formats (TPM 2.0 Part 2, big-endian): TPM2B_PUBLIC / TPMT_PUBLIC (RSA and ECC keys),
TPMS_ATTEST (what ``tpm2_quote -m`` writes), TPMT_SIGNATURE (``tpm2_quote -s``), and the PCR
values file of ``tpm2_quote -o`` (tpm2-tools' "serialized" little-endian struct dump by default,
or the "marshaled" TPML_PCR_SELECTION + count + TPML_DIGEST[] form).

``verify_quote`` checks, in this order: structures well-formed, signature by the AK over the
TPMS_ATTEST, magic, type, nonce (extraData), PCR selection and PCR digest. Every failure raises
:class:`QuoteError` with a ``code`` (machine-readable) and a one-line ``reason``.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

TPM_GENERATED_VALUE = 0xFF544347
TPM_ST_ATTEST_QUOTE = 0x8018

ALG_RSA = 0x0001
ALG_ECC = 0x0023
ALG_NULL = 0x0010
ALG_RSASSA = 0x0014
ALG_RSAPSS = 0x0016
ALG_ECDSA = 0x0018
ALG_ECDAA = 0x001A
ALG_HMAC = 0x0005

HASH_ALGS: dict[int, str] = {
    0x0004: "sha1",
    0x000B: "sha256",
    0x000C: "sha384",
    0x000D: "sha512",
    0x0012: "sm3_256",
}
HASH_IDS = {v: k for k, v in HASH_ALGS.items()}
_HASH_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64, "sm3_256": 32}
_CRYPTO_HASHES = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sm3_256": hashes.SM3,
}
_CURVES = {0x0003: ec.SECP256R1, 0x0004: ec.SECP384R1, 0x0005: ec.SECP521R1}
_SIG_NAMES = {ALG_RSASSA: "rsassa", ALG_RSAPSS: "rsapss", ALG_ECDSA: "ecdsa", ALG_ECDAA: "ecdaa"}

# TPMA_OBJECT bits
ATTRIBUTES = {
    "fixedtpm": 1 << 1,
    "stclear": 1 << 2,
    "fixedparent": 1 << 4,
    "sensitivedataorigin": 1 << 5,
    "userwithauth": 1 << 6,
    "adminwithpolicy": 1 << 7,
    "noda": 1 << 10,
    "encryptedduplication": 1 << 11,
    "restricted": 1 << 16,
    "decrypt": 1 << 17,
    "sign": 1 << 18,
}
AK_REQUIRED = ("restricted", "sign", "fixedtpm", "fixedparent", "sensitivedataorigin")


class QuoteError(ValueError):
    """A quote (or one of its inputs) is invalid. ``code`` is one of: malformed, hash_alg, key,
    signature, magic, type, nonce, selection, pcr_digest, pcr_values."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


class _R:
    """Bounds-checked big-endian reader; every overrun is a QuoteError('malformed')."""

    __slots__ = ("buf", "pos", "what")

    def __init__(self, buf: bytes, what: str) -> None:
        self.buf, self.pos, self.what = buf, 0, what

    def take(self, n: int, field_name: str) -> bytes:
        if n > len(self.buf) - self.pos:
            raise QuoteError(
                "malformed",
                f"truncated {self.what}: {field_name} needs {n} bytes at offset {self.pos}, "
                f"{len(self.buf) - self.pos} left",
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, f: str) -> int:
        return self.take(1, f)[0]

    def u16(self, f: str) -> int:
        return int.from_bytes(self.take(2, f), "big")

    def u32(self, f: str) -> int:
        return int.from_bytes(self.take(4, f), "big")

    def u64(self, f: str) -> int:
        return int.from_bytes(self.take(8, f), "big")

    def tpm2b(self, f: str) -> bytes:
        return self.take(self.u16(f + " size"), f)

    def end(self) -> None:
        if self.pos != len(self.buf):
            raise QuoteError(
                "malformed", f"{len(self.buf) - self.pos} trailing bytes after the {self.what}"
            )


def _hash_name(alg: int, where: str) -> str:
    name = HASH_ALGS.get(alg)
    if name is None:
        raise QuoteError("hash_alg", f"unknown hash algorithm 0x{alg:04x} in {where}")
    return name


# ---------------------------------------------------------------------------------------------
# Public keys
# ---------------------------------------------------------------------------------------------


@dataclass
class AkPublic:
    """An attestation key's public part.

    From TPM2B_PUBLIC the object attributes, name algorithm, signing scheme and TPM name are
    known; from a PEM/DER key only ``key`` is (``attributes`` is then None).
    """

    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    attributes: int | None = None
    name_alg: str | None = None
    scheme: tuple[int, str] | None = None  # (TPM_ALG_RSASSA/RSAPSS/ECDSA, hash name)
    name: bytes | None = None  # nameAlg || H(TPMT_PUBLIC)

    @property
    def attribute_names(self) -> list[str]:
        if self.attributes is None:
            return []
        return [n for n, bit in ATTRIBUTES.items() if self.attributes & bit]

    def check_attestation_key(self) -> None:
        """Raise QuoteError('key') unless this is a restricted, TPM-bound signing key."""
        if self.attributes is None:
            return
        names = set(self.attribute_names)
        missing = [a for a in AK_REQUIRED if a not in names]
        if missing or "decrypt" in names:
            raise QuoteError(
                "key",
                f"not an attestation key: attributes {'|'.join(sorted(names))} "
                f"(needs {'|'.join(AK_REQUIRED)}, no decrypt)",
            )


def _parse_symdef(r: _R) -> None:
    if r.u16("symmetric algorithm") != ALG_NULL:
        r.u16("symmetric key bits")
        r.u16("symmetric mode")


def _parse_scheme(r: _R) -> tuple[int, str] | None:
    scheme = r.u16("scheme")
    if scheme == ALG_NULL:
        return None
    h = r.u16("scheme hash")
    if scheme == ALG_ECDAA:
        r.u16("ecdaa count")
    return scheme, HASH_ALGS.get(h, f"0x{h:04x}")


def parse_tpmt_public(data: bytes) -> AkPublic:
    """Parse a marshalled TPMT_PUBLIC (RSA or ECC key)."""
    r = _R(bytes(data), "TPMT_PUBLIC")
    typ = r.u16("type")
    name_alg = r.u16("nameAlg")
    attributes = r.u32("objectAttributes")
    r.tpm2b("authPolicy")
    if typ == ALG_RSA:
        _parse_symdef(r)
        scheme = _parse_scheme(r)
        bits = r.u16("keyBits")
        exponent = r.u32("exponent") or 65537
        modulus = r.tpm2b("RSA modulus")
        if not modulus or len(modulus) * 8 != bits:
            raise QuoteError("malformed", f"RSA modulus of {len(modulus)} bytes for {bits} bits")
        try:
            key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey = rsa.RSAPublicNumbers(
                exponent, int.from_bytes(modulus, "big")
            ).public_key()
        except ValueError as exc:
            raise QuoteError("malformed", f"invalid RSA public key: {exc}") from None
    elif typ == ALG_ECC:
        _parse_symdef(r)
        scheme = _parse_scheme(r)
        curve_id = r.u16("curveID")
        if r.u16("kdf scheme") != ALG_NULL:
            r.u16("kdf hash")
        x, y = r.tpm2b("ECC x"), r.tpm2b("ECC y")
        curve = _CURVES.get(curve_id)
        if curve is None:
            raise QuoteError("malformed", f"unsupported ECC curve 0x{curve_id:04x}")
        try:
            key = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve()
            ).public_key()
        except ValueError as exc:
            raise QuoteError("malformed", f"invalid ECC point: {exc}") from None
    else:
        raise QuoteError("malformed", f"unsupported key type 0x{typ:04x} (RSA or ECC only)")
    r.end()
    name = None
    hname = HASH_ALGS.get(name_alg)
    if hname is not None:
        name = struct.pack(">H", name_alg) + _digest(hname, bytes(data))
    return AkPublic(key, attributes, hname, scheme, name)


def parse_public(data: bytes | str) -> AkPublic:
    """Parse an AK public key: TPM2B_PUBLIC (``tpm2_createak -u``), TPMT_PUBLIC, or a PEM/DER
    SubjectPublicKeyInfo (``tpm2_readpublic -f pem``)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if raw.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(raw)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise QuoteError("malformed", f"unreadable PEM public key: {exc}") from None
        return _check_key_type(key)
    if len(raw) >= 2 and int.from_bytes(raw[:2], "big") == len(raw) - 2:
        return parse_tpmt_public(raw[2:])
    if raw[:1] == b"\x30":
        try:
            key = serialization.load_der_public_key(raw)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise QuoteError("malformed", f"unreadable DER public key: {exc}") from None
        return _check_key_type(key)
    if len(raw) < 2:
        raise QuoteError("malformed", "truncated public key")
    return parse_tpmt_public(raw)


def _check_key_type(key: object) -> AkPublic:
    if isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        return AkPublic(key)
    raise QuoteError("malformed", f"unsupported public key type {type(key).__name__}")


# ---------------------------------------------------------------------------------------------
# TPMS_ATTEST and TPMT_SIGNATURE
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockInfo:
    """TPMS_CLOCK_INFO: ms clock, reset/restart counters (reboot detection), safe flag."""

    clock: int
    reset_count: int
    restart_count: int
    safe: bool


@dataclass
class Attest:
    """A parsed TPMS_ATTEST of type quote."""

    magic: int
    type: int
    qualified_signer: bytes
    extra_data: bytes
    clock_info: ClockInfo
    firmware_version: int
    pcr_selection: list[tuple[str, tuple[int, ...]]]
    pcr_digest: bytes


def _parse_selection(r: _R, where: str) -> list[tuple[str, tuple[int, ...]]]:
    count = r.u32("selection count")
    if count > 16:
        raise QuoteError("malformed", f"{count} PCR selections in {where} (at most 16)")
    out = []
    for _ in range(count):
        bank = _hash_name(r.u16("selection hash"), f"{where} PCR selection")
        size = r.u8("sizeofSelect")
        bitmap = r.take(size, "pcrSelect")
        pcrs = tuple(i for i in range(size * 8) if bitmap[i // 8] >> (i % 8) & 1)
        out.append((bank, pcrs))
    return out


def parse_attest(data: bytes) -> Attest:
    """Parse TPMS_ATTEST (also accepts the TPM2B_ATTEST form with its size prefix).

    Magic and type are returned as found; ``verify_quote`` rejects wrong ones.
    """
    raw = bytes(data)
    if (
        len(raw) >= 6
        and int.from_bytes(raw[:2], "big") == len(raw) - 2
        and (int.from_bytes(raw[2:6], "big") == TPM_GENERATED_VALUE)
    ):
        raw = raw[2:]
    r = _R(raw, "TPMS_ATTEST")
    magic = r.u32("magic")
    typ = r.u16("type")
    signer = r.tpm2b("qualifiedSigner")
    extra = r.tpm2b("extraData")
    clock = ClockInfo(r.u64("clock"), r.u32("resetCount"), r.u32("restartCount"), r.u8("safe") == 1)
    fw = r.u64("firmwareVersion")
    if typ != TPM_ST_ATTEST_QUOTE:
        # Other attestation types carry other bodies; the header is enough to reject them.
        return Attest(magic, typ, signer, extra, clock, fw, [], b"")
    selection = _parse_selection(r, "quote")
    digest = r.tpm2b("pcrDigest")
    r.end()
    return Attest(magic, typ, signer, extra, clock, fw, selection, digest)


@dataclass
class Signature:
    """A parsed TPMT_SIGNATURE: RSASSA/RSAPSS carry ``rsa``; ECDSA carries ``r``/``s``."""

    sig_alg: int
    hash_alg: str
    rsa: bytes = b""
    r: int = 0
    s: int = 0

    @property
    def scheme_name(self) -> str:
        return _SIG_NAMES.get(self.sig_alg, f"0x{self.sig_alg:04x}")


def parse_signature(data: bytes) -> Signature:
    """Parse a marshalled TPMT_SIGNATURE (``tpm2_quote -s``, default "tss" format)."""
    r = _R(bytes(data), "TPMT_SIGNATURE")
    alg = r.u16("sigAlg")
    if alg in (ALG_RSASSA, ALG_RSAPSS):
        h = _hash_name(r.u16("hash"), "signature")
        sig = Signature(alg, h, rsa=r.tpm2b("RSA signature"))
        if not sig.rsa:
            raise QuoteError("malformed", "empty RSA signature")
    elif alg == ALG_ECDSA:
        h = _hash_name(r.u16("hash"), "signature")
        sig = Signature(alg, h, r=int.from_bytes(r.tpm2b("ECDSA r"), "big"))
        sig.s = int.from_bytes(r.tpm2b("ECDSA s"), "big")
    else:
        raise QuoteError("malformed", f"unsupported signature algorithm 0x{alg:04x}")
    r.end()
    return sig


# ---------------------------------------------------------------------------------------------
# PCR values
# ---------------------------------------------------------------------------------------------


def _digest(bank: str, data: bytes) -> bytes:
    return hashlib.new("sm3" if bank == "sm3_256" else bank, data).digest()


def pcr_digest(
    hash_alg: str,
    selection: Iterable[tuple[str, Iterable[int]]],
    pcr_values: Mapping[str, Mapping[int, bytes]],
) -> bytes:
    """The quote's pcrDigest: ``H(values of the selected PCRs, bank order then index order)``."""
    parts = []
    for bank, pcrs in selection:
        values = pcr_values.get(bank, {})
        for index in sorted(pcrs):
            value = values.get(index)
            if value is None:
                raise QuoteError("pcr_values", f"no {bank} value for PCR {index}")
            if len(value) != _HASH_SIZES[bank]:
                raise QuoteError("pcr_values", f"{bank} PCR {index} value has the wrong size")
            parts.append(bytes(value))
    return _digest(hash_alg, b"".join(parts))


def parse_selection_text(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """Parse a tpm2-tools PCR selection such as ``sha256:0,1,2,3+sha1:7``."""
    out = []
    for part in text.split("+"):
        bank, _, indexes = part.partition(":")
        bank = bank.strip().lower()
        if bank not in HASH_IDS:
            raise QuoteError("hash_alg", f"unknown PCR bank {bank!r}")
        try:
            pcrs = tuple(sorted({int(i, 0) for i in indexes.split(",") if i.strip()}))
        except ValueError:
            raise QuoteError("selection", f"bad PCR list {indexes!r}") from None
        if not pcrs or any(not 0 <= i < 24 for i in pcrs):
            raise QuoteError("selection", f"bad PCR list {indexes!r}")
        out.append((bank, pcrs))
    return out


# tpm2-tools "serialized" = raw little-endian C structs: TPML_PCR_SELECTION (u32 count +
# 16 x {u16 hash, u8 sizeofSelect, u8 pcrSelect[4], pad}), u32 n, n x TPML_DIGEST (u32 count
# + 8 x {u16 size, u8 buffer[64]}).
_SER_SELECTION = 4 + 16 * 8
_SER_DIGESTS = 4 + 8 * 66


def parse_pcr_values_file(data: bytes) -> dict[str, dict[int, bytes]]:
    """Parse the PCR file of ``tpm2_quote -o`` (serialized or marshaled): ``{bank: {pcr: v}}``."""
    raw = bytes(data)
    if len(raw) >= _SER_SELECTION + 4 and (len(raw) - _SER_SELECTION - 4) % _SER_DIGESTS == 0:
        return _parse_serialized(raw)
    return _parse_marshaled(raw)


def _fill(
    selection: list[tuple[str, tuple[int, ...]]], digests: list[bytes]
) -> dict[str, dict[int, bytes]]:
    wanted = sum(len(p) for _, p in selection)
    if wanted != len(digests):
        raise QuoteError("pcr_values", f"{len(digests)} PCR values for {wanted} selected PCRs")
    out: dict[str, dict[int, bytes]] = {}
    it = iter(digests)
    for bank, pcrs in selection:
        for index in pcrs:
            value = next(it)
            if len(value) != _HASH_SIZES[bank]:
                raise QuoteError("pcr_values", f"{bank} PCR {index} value is {len(value)} bytes")
            out.setdefault(bank, {})[index] = value
    return out


def _parse_serialized(raw: bytes) -> dict[str, dict[int, bytes]]:
    (count,) = struct.unpack_from("<I", raw, 0)
    if count > 16:
        raise QuoteError("pcr_values", f"{count} PCR selections (at most 16)")
    selection = []
    for i in range(count):
        alg, size = struct.unpack_from("<HB", raw, 4 + 8 * i)
        if size > 4:
            raise QuoteError("pcr_values", f"sizeofSelect {size} (at most 4)")
        bitmap = raw[4 + 8 * i + 3 : 4 + 8 * i + 3 + size]
        bank = _hash_name(alg, "PCR values file")
        selection.append((bank, tuple(j for j in range(size * 8) if bitmap[j // 8] >> (j % 8) & 1)))
    (n,) = struct.unpack_from("<I", raw, _SER_SELECTION)
    if n != (len(raw) - _SER_SELECTION - 4) // _SER_DIGESTS:
        raise QuoteError("pcr_values", f"PCR file announces {n} digest lists")
    digests = []
    for k in range(n):
        base = _SER_SELECTION + 4 + k * _SER_DIGESTS
        (dcount,) = struct.unpack_from("<I", raw, base)
        if dcount > 8:
            raise QuoteError("pcr_values", f"digest list of {dcount} entries (at most 8)")
        for j in range(dcount):
            (size,) = struct.unpack_from("<H", raw, base + 4 + 66 * j)
            if size > 64:
                raise QuoteError("pcr_values", f"digest of {size} bytes")
            digests.append(raw[base + 6 + 66 * j : base + 6 + 66 * j + size])
    return _fill(selection, digests)


def _parse_marshaled(raw: bytes) -> dict[str, dict[int, bytes]]:
    r = _R(raw, "PCR values file")
    try:
        selection = _parse_selection(r, "PCR values file")
        n = r.u32("digest list count")
        if n > len(raw):
            raise QuoteError("malformed", f"{n} digest lists cannot fit")
        digests = []
        for _ in range(n):
            count = r.u32("digest count")
            if count > 8:
                raise QuoteError("malformed", f"digest list of {count} entries (at most 8)")
            digests.extend(r.tpm2b("PCR digest") for _ in range(count))
        r.end()
    except QuoteError as exc:
        raise QuoteError("pcr_values", f"unreadable PCR values file: {exc.reason}") from None
    return _fill(selection, digests)


# ---------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------


@dataclass
class QuoteResult:
    """A verified quote: what it attests (only returned when every check passed)."""

    valid: bool
    attest: Attest
    signature: Signature
    pcr_values: dict[str, dict[int, bytes]] | None = None
    checks: list[str] = field(default_factory=list)

    @property
    def clock_info(self) -> ClockInfo:
        return self.attest.clock_info


def _verify_signature(ak: AkPublic, sig: Signature, message: bytes) -> None:
    h = _CRYPTO_HASHES[sig.hash_alg]()
    key = ak.key
    if ak.scheme is not None and (ak.scheme[0] != sig.sig_alg or ak.scheme[1] != sig.hash_alg):
        raise QuoteError(
            "signature", f"signature scheme {sig.scheme_name}/{sig.hash_alg} is not the AK's"
        )
    is_rsa = isinstance(key, rsa.RSAPublicKey)
    if (sig.sig_alg in (ALG_RSASSA, ALG_RSAPSS)) != is_rsa:
        kind = "an RSA" if is_rsa else "an ECC"
        raise QuoteError(
            "signature", f"{sig.scheme_name} signature cannot come from {kind} AK (another key)"
        )
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if sig.sig_alg == ALG_RSASSA:
                key.verify(sig.rsa, message, padding.PKCS1v15(), h)
            else:
                key.verify(sig.rsa, message, padding.PSS(padding.MGF1(h), padding.PSS.AUTO), h)
        else:
            key.verify(encode_dss_signature(sig.r, sig.s), message, ec.ECDSA(h))
    except InvalidSignature:
        raise QuoteError(
            "signature", "signature does not verify with this AK (altered quote or another key)"
        ) from None
    except ValueError as exc:
        raise QuoteError("signature", f"unusable signature: {exc}") from None


def _normalise_selection(
    sel: str | Mapping[str, Iterable[int]] | Iterable[tuple[str, Iterable[int]]],
) -> list[tuple[str, tuple[int, ...]]]:
    if isinstance(sel, str):
        return parse_selection_text(sel)
    items = sel.items() if isinstance(sel, Mapping) else sel
    out = []
    for bank, pcrs in items:
        if bank not in HASH_IDS:
            raise QuoteError("hash_alg", f"unknown PCR bank {bank!r}")
        out.append((bank, tuple(sorted(set(pcrs)))))
    return out


def verify_quote(
    ak_public: AkPublic | bytes | str,
    attest_bytes: bytes,
    signature_bytes: bytes,
    nonce: bytes,
    pcr_values: Mapping[str, Mapping[int, bytes]] | None = None,
    expected_selection: str | Mapping[str, Iterable[int]] | None = None,
) -> QuoteResult:
    """Verify a TPM2_Quote; returns a QuoteResult, or raises QuoteError with the first failure.

    ``pcr_values`` ({bank: {pcr: value}}), when given, must hash to the quote's pcrDigest (they
    may hold more PCRs than quoted). ``expected_selection`` (``"sha256:0,1,...,7"`` or a
    mapping) must equal the quoted selection exactly.
    """
    ak = ak_public if isinstance(ak_public, AkPublic) else parse_public(ak_public)
    sig = parse_signature(signature_bytes)
    attest = parse_attest(attest_bytes)
    ak.check_attestation_key()
    message = bytes(attest_bytes)
    if len(message) >= 2 and int.from_bytes(message[:2], "big") == len(message) - 2:
        message = message[2:]  # a TPM2B_ATTEST: the signature covers the TPMS_ATTEST
    _verify_signature(ak, sig, message)
    checks = ["signature"]
    if attest.magic != TPM_GENERATED_VALUE:
        raise QuoteError("magic", f"magic 0x{attest.magic:08x} is not TPM_GENERATED_VALUE")
    if attest.type != TPM_ST_ATTEST_QUOTE:
        raise QuoteError("type", f"attestation type 0x{attest.type:04x} is not a quote")
    checks += ["magic", "type"]
    if not hmac.compare_digest(attest.extra_data, bytes(nonce)):
        raise QuoteError("nonce", "nonce mismatch: the quote answers another challenge (replay?)")
    checks.append("nonce")
    if expected_selection is not None:
        expected = _normalise_selection(expected_selection)
        if attest.pcr_selection != expected:
            raise QuoteError(
                "selection",
                f"PCR selection mismatch: quoted {_selection_text(attest.pcr_selection)}, "
                f"expected {_selection_text(expected)}",
            )
        checks.append("selection")
    if pcr_values is not None:
        computed = pcr_digest(sig.hash_alg, attest.pcr_selection, pcr_values)
        if not hmac.compare_digest(computed, attest.pcr_digest):
            raise QuoteError("pcr_digest", "PCR digest mismatch: the PCR values are not the quoted")
        checks.append("pcr_digest")
    selected = (
        {b: {i: bytes(pcr_values[b][i]) for i in p} for b, p in attest.pcr_selection}
        if pcr_values is not None
        else None
    )
    return QuoteResult(True, attest, sig, selected, checks)


def _selection_text(sel: list[tuple[str, tuple[int, ...]]]) -> str:
    return "+".join(f"{b}:{','.join(map(str, p))}" for b, p in sel) or "(none)"


# ---------------------------------------------------------------------------------------------
# Reboot / reset detection
# ---------------------------------------------------------------------------------------------


@dataclass
class ClockCheck:
    """Comparison of two successive quotes' clock info from the same TPM.

    ``rebooted``: resetCount grew (TPM reset: power cycle / reboot). ``restarted``: restartCount
    grew without a reset (resume from hibernation). ``anomalies``: things that cannot happen on
    an honest TPM between two quotes (counters or clock going backwards) or that need a look.
    """

    rebooted: bool
    restarted: bool
    anomalies: list[str]

    @property
    def ok(self) -> bool:
        return not self.anomalies


def check_clock(previous: ClockInfo, current: ClockInfo) -> ClockCheck:
    """Compare the clock info of a quote with the previous accepted one."""
    anomalies = []
    rebooted = current.reset_count > previous.reset_count
    restarted = not rebooted and current.restart_count > previous.restart_count
    if current.reset_count < previous.reset_count:
        anomalies.append(
            f"resetCount went backwards ({previous.reset_count} -> {current.reset_count}): "
            "TPM cleared or replaced, or an old quote replayed"
        )
    elif not rebooted and current.restart_count < previous.restart_count:
        anomalies.append(
            f"restartCount went backwards ({previous.restart_count} -> {current.restart_count})"
        )
    # The clock may lag after an unorderly shutdown (safe = False, then a reset); otherwise it
    # never goes backwards.
    if current.clock < previous.clock and (current.safe or not rebooted):
        anomalies.append(f"clock went backwards ({previous.clock} -> {current.clock} ms)")
    return ClockCheck(rebooted, restarted, anomalies)
