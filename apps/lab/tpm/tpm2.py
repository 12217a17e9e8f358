"""The TPM2 commands the swtpm lab sends: boot a TPM from an event sequence, read PCRs, reboot.

The lab "boots" a node by doing what its firmware would do: TPM2_Startup(CLEAR) after a power
cycle, then one TPM2_PCR_Extend per measured event into every bank the log carries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence

os.environ.setdefault("TSS2_LOG", "all+NONE")  # see heatsite_agent.tpm

from tpm2_pytss import (
    ESAPI,
    ESYS_TR,
    TPM2_ALG,
    TPM2_SU,
    TPML_DIGEST_VALUES,
    TPMT_HA,
    TPMU_HA,
    TSS2_Exception,
)

from apps.attestation.predict import Event

__all__ = ["LabTpmError", "extend_events", "power_cycle", "read_pcrs", "startup"]

_ALGS = {"sha1": TPM2_ALG.SHA1, "sha256": TPM2_ALG.SHA256}
_PCR_HANDLES = [getattr(ESYS_TR, f"PCR{i}") for i in range(24)]


class LabTpmError(RuntimeError):
    """A lab TPM operation failed (swtpm not running, command refused)."""


def _connect(tcti: str, attempts: int = 5) -> ESAPI:
    # swtpm serves one client at a time; a busy or just-restarted instance may refuse briefly.
    for attempt in range(attempts):
        try:
            return ESAPI(tcti)
        except TSS2_Exception as exc:
            if attempt == attempts - 1:
                raise LabTpmError(f"cannot open TPM via {tcti}: {exc}") from None
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


def startup(tcti: str) -> None:
    """TPM2_Startup(CLEAR): swtpm does not send it itself after a power cycle (notes §5.4)."""
    esys = _connect(tcti)
    try:
        esys.startup(TPM2_SU.CLEAR)
    except TSS2_Exception as exc:
        if "initialize" not in str(exc).lower():  # TPM_RC_INITIALIZE: already started
            raise LabTpmError(f"TPM2_Startup failed: {exc}") from None
    finally:
        esys.close()


def extend_events(
    tcti: str, events: Iterable[Event], banks: Sequence[str] = ("sha1", "sha256")
) -> int:
    """Extend every event's digests into its PCR, one TPM2_PCR_Extend per event; returns count."""
    for bank in banks:
        if bank not in _ALGS:
            raise LabTpmError(f"lab TPMs extend sha1/sha256 only, not {bank!r}")
    esys = _connect(tcti)
    n = 0
    try:
        for ev in events:
            values = []
            for bank in banks:
                digest = ev.digests.get(bank)
                if digest is None:
                    raise LabTpmError(f"event {ev.describe()} has no {bank} digest")
                values.append(TPMT_HA(hashAlg=_ALGS[bank], digest=TPMU_HA(**{bank: digest})))
            esys.pcr_extend(_PCR_HANDLES[ev.pcr], TPML_DIGEST_VALUES(values))
            n += 1
    except TSS2_Exception as exc:
        raise LabTpmError(f"PCR_Extend failed: {exc}") from None
    finally:
        esys.close()
    return n


def read_pcrs(tcti: str, bank: str = "sha256", pcrs: Iterable[int] = range(8)) -> dict[int, str]:
    """Current PCR values {pcr: hex} of one bank (TPM2_PCR_Read, 8 digests per call)."""
    wanted = sorted(set(pcrs))
    esys = _connect(tcti)
    out: dict[int, str] = {}
    try:
        for i in range(0, len(wanted), 8):
            chunk = wanted[i : i + 8]
            _, _, digests = esys.pcr_read(f"{bank}:" + ",".join(map(str, chunk)))
            for p, d in zip(chunk, digests, strict=True):
                out[p] = bytes(d).hex()
    except TSS2_Exception as exc:
        raise LabTpmError(f"PCR_Read failed: {exc}") from None
    finally:
        esys.close()
    return out


def power_cycle(ctrl_host: str, ctrl_port: int, tcti: str) -> None:
    """Reboot a swtpm: TPM2_Shutdown, power cycle via its control channel, TPM2_Startup(CLEAR).

    PCR0-15 return to their initial values and resetCount increments, as on a real reboot.
    """
    # An orderly TPM2_Shutdown first, as an OS does on reboot: after a disorderly power loss the
    # TPM counts a dictionary-attack failure, and a few lab reboots would lock out the EK.
    esys = _connect(tcti)
    try:
        esys.shutdown(TPM2_SU.CLEAR)
    except TSS2_Exception as exc:
        raise LabTpmError(f"TPM2_Shutdown failed: {exc}") from None
    finally:
        esys.close()
    tool = shutil.which("swtpm_ioctl")
    if tool is None:
        raise LabTpmError("swtpm_ioctl not found (Debian package swtpm-tools)")
    proc = subprocess.run(  # noqa: S603 - fixed tool, arguments we built
        [tool, "--tcp", f"{ctrl_host}:{ctrl_port}", "-i"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0:
        raise LabTpmError(f"swtpm_ioctl -i failed: {proc.stderr.strip() or proc.stdout.strip()}")
    startup(tcti)
