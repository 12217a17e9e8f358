"""The agent's TPM side: EK/AK, credential activation, quotes (tpm2-pytss, any TCTI).

Each operation opens its own ESAPI connection and flushes what it loaded. That costs a few
milliseconds but keeps the agent correct across TPM resets, reboots and TPM2_Clear, and works on a
raw swtpm (no resource manager, three object slots, one client at a time) as on /dev/tpmrm0.

The AK is a *primary* key in the endorsement hierarchy created from a fixed template: the TPM
derives it from the endorsement seed, so the same AK comes back after a reinstall or TPM2_Clear
and the agent needs no stored key blob.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass

# ESYS logs an ERROR line for every absent EK-certificate NV index it probes; silence it unless
# the operator asked for logs.
os.environ.setdefault("TSS2_LOG", "all+NONE")

from tpm2_pytss import (
    ESAPI,
    ESYS_TR,
    TPM2_ALG,
    TPM2_SE,
    TPM2B_ENCRYPTED_SECRET,
    TPM2B_ID_OBJECT,
    TPM2B_PUBLIC,
    TPM2B_SENSITIVE_CREATE,
    TPMT_SYM_DEF,
    TSS2_Exception,
)
from tpm2_pytss.utils import NVReadEK, create_ek_template

AK_ATTRIBUTES = "restricted|sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth"
AK_TEMPLATE = "ecc256:ecdsa-sha256:null"
QUOTE_PCRS = tuple(range(8))


class TpmError(Exception):
    """The TPM refused or could not be reached; ``transient`` says whether a retry may help."""

    def __init__(self, message: str, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Identity:
    """What the node reports at enrolment (all TPM structures marshalled)."""

    ek_public: bytes
    ek_certificate: bytes | None
    ak_public: bytes
    ak_name: bytes


@dataclass(frozen=True)
class Quote:
    """A TPM2_Quote over sha256 PCRs and the values it covers."""

    attest: bytes  # marshalled TPMS_ATTEST (the signed message)
    signature: bytes  # marshalled TPMT_SIGNATURE
    pcrs: dict[str, dict[int, str]]  # {"sha256": {0: hex, ...}}


class AgentTpm:
    """Talks to one TPM through a TCTI string (``swtpm:host=127.0.0.1,port=N``, ``device:...``)."""

    def __init__(self, tcti: str) -> None:
        self.tcti = tcti
        self._lock = threading.Lock()
        self._ek_cache: tuple[bytes, bytes | None] | None = None

    def _connect(self) -> ESAPI:
        try:
            return ESAPI(self.tcti)
        except TSS2_Exception as exc:
            raise TpmError(f"cannot open TPM via {self.tcti}: {exc}") from None

    @staticmethod
    def _create_ak(esys: ESAPI) -> tuple[ESYS_TR, TPM2B_PUBLIC]:
        tmpl = TPM2B_PUBLIC.parse(AK_TEMPLATE, objectAttributes=AK_ATTRIBUTES, nameAlg="sha256")
        handle, public, *_ = esys.create_primary(
            TPM2B_SENSITIVE_CREATE(), tmpl, ESYS_TR.ENDORSEMENT
        )
        return handle, public

    @staticmethod
    def _create_ek(esys: ESAPI) -> tuple[ESYS_TR, TPM2B_PUBLIC, bytes | None]:
        cert, tmpl = create_ek_template("EK-RSA2048", NVReadEK(esys))
        handle, public, *_ = esys.create_primary(None, tmpl, ESYS_TR.ENDORSEMENT)
        return handle, public, (bytes(cert) if cert else None)

    def identity(self) -> Identity:
        """EK public (+ certificate from NV when provisioned) and the AK public/name."""
        with self._lock:
            esys = self._connect()
            try:
                if self._ek_cache is None:
                    ek, ek_pub, cert = self._create_ek(esys)
                    esys.flush_context(ek)
                    self._ek_cache = (ek_pub.marshal(), cert)
                ak, ak_pub = self._create_ak(esys)
                name = bytes(esys.tr_get_name(ak))
                esys.flush_context(ak)
                return Identity(self._ek_cache[0], self._ek_cache[1], ak_pub.marshal(), name)
            except TSS2_Exception as exc:
                raise TpmError(f"TPM error while reading identity: {exc}") from None
            finally:
                esys.close()

    def activate_credential(self, blob: bytes) -> bytes:
        """Unwrap a MakeCredential blob (TPM2B_ID_OBJECT || TPM2B_ENCRYPTED_SECRET)."""
        try:
            id_object, rest = TPM2B_ID_OBJECT.unmarshal(blob)
            secret, used = TPM2B_ENCRYPTED_SECRET.unmarshal(blob[rest:])
        except (TSS2_Exception, ValueError, TypeError):
            raise TpmError("malformed credential blob", transient=False) from None
        if rest + used != len(blob):
            raise TpmError("trailing bytes after credential blob", transient=False)
        with self._lock:
            esys = self._connect()
            handles: list[ESYS_TR] = []
            try:
                ek, _, _ = self._create_ek(esys)
                handles.append(ek)
                ak, _ = self._create_ak(esys)
                handles.append(ak)
                # The default EK policy is PolicySecret(TPM_RH_ENDORSEMENT).
                sess = esys.start_auth_session(
                    tpm_key=ESYS_TR.NONE,
                    bind=ESYS_TR.NONE,
                    session_type=TPM2_SE.POLICY,
                    symmetric=TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL),
                    auth_hash=TPM2_ALG.SHA256,
                )
                handles.append(sess)
                esys.policy_secret(ESYS_TR.ENDORSEMENT, sess, b"", b"", b"", 0)
                out = esys.activate_credential(
                    ak, ek, id_object, secret, session1=ESYS_TR.PASSWORD, session2=sess
                )
                return bytes(out)
            except TSS2_Exception as exc:
                raise TpmError(f"ActivateCredential failed: {exc}", transient=False) from None
            finally:
                for h in handles:
                    # A consumed policy session is already gone: nothing to free.
                    with contextlib.suppress(TSS2_Exception):
                        esys.flush_context(h)
                esys.close()

    def quote(self, nonce: bytes, pcrs: tuple[int, ...] = QUOTE_PCRS) -> Quote:
        """TPM2_Quote(sha256:pcrs, nonce) with the AK, plus the PCR values it covers."""
        if not 8 <= len(nonce) <= 64:
            raise TpmError("nonce must be 8..64 bytes", transient=False)
        if not pcrs or any(not 0 <= p <= 23 for p in pcrs):
            raise TpmError("PCR selection must be within 0..23", transient=False)
        selection = "sha256:" + ",".join(str(p) for p in sorted(set(pcrs)))
        with self._lock:
            esys = self._connect()
            try:
                ak, _ = self._create_ak(esys)
                try:
                    attest, sig = esys.quote(ak, selection, nonce)
                finally:
                    esys.flush_context(ak)
                values = self._read_pcrs(esys, sorted(set(pcrs)))
            except TSS2_Exception as exc:
                raise TpmError(f"quote failed: {exc}") from None
            finally:
                esys.close()
        return Quote(bytes(attest), sig.marshal(), {"sha256": values})

    @staticmethod
    def _read_pcrs(esys: ESAPI, pcrs: list[int]) -> dict[int, str]:
        values: dict[int, str] = {}
        # TPM2_PCR_Read returns at most 8 digests per call.
        for i in range(0, len(pcrs), 8):
            chunk = pcrs[i : i + 8]
            _, _, digests = esys.pcr_read("sha256:" + ",".join(map(str, chunk)))
            for p, d in zip(chunk, digests, strict=True):
                values[p] = bytes(d).hex()
        return values
