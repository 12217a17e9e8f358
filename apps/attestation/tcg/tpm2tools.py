"""Drive a software TPM (Debian's ``swtpm``) with ``tpm2-tools``, the way field engineers do.

Used by the tests and benchmarks to produce real ``tpm2_createak`` / ``tpm2_quote`` artefacts
and to run ``tpm2_checkquote``. Everything listens on 127.0.0.1 only. Not used in production
paths: the verifier itself (``quote.py``) never spawns a process.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SWTPM = "swtpm"
TIMEOUT = 60  # generous: the machine is shared and may be busy


class Tpm2ToolsError(RuntimeError):
    """A swtpm or tpm2-tools invocation failed (stderr included)."""


def _free_port_pair() -> int:
    """A port P with P and P+1 free on 127.0.0.1 (swtpm uses P+1 for control)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise Tpm2ToolsError("no free port pair on 127.0.0.1")


@dataclass
class QuoteArtefacts:
    """Files written by tpm2-tools for one quote."""

    directory: Path
    ak_public_tss: Path  # TPM2B_PUBLIC (tpm2_createak -u)
    ak_public_pem: Path  # PEM (tpm2_readpublic -o -f pem)
    message: Path  # TPMS_ATTEST (tpm2_quote -m)
    signature: Path  # TPMT_SIGNATURE (tpm2_quote -s)
    pcrs: Path  # PCR values (tpm2_quote -o)
    nonce: bytes
    selection: str


class Swtpm:
    """A swtpm TPM 2.0 instance on a loopback port pair, with a tpm2-tools environment.

    Use as a context manager; the state directory is temporary unless ``state_dir`` is given.
    """

    def __init__(self, state_dir: str | os.PathLike[str] | None = None) -> None:
        self._tmp = None if state_dir else tempfile.TemporaryDirectory(prefix="swtpm-")
        self.state_dir = Path(state_dir or self._tmp.name)  # type: ignore[union-attr]
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["TPM2TOOLS_TCTI"] = f"swtpm:host=127.0.0.1,port={self.port}"
        env["TSS2_LOG"] = "all+NONE"
        return env

    def start(self) -> Swtpm:
        if shutil.which(SWTPM) is None:
            raise Tpm2ToolsError("swtpm is not installed")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            self.port = _free_port_pair()
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
                [
                    SWTPM, "socket", "--tpm2",
                    "--tpmstate", f"dir={self.state_dir}",
                    "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
                    "--ctrl", f"type=tcp,port={self.port + 1},bindaddr=127.0.0.1",
                    "--flags", "not-need-init,startup-clear",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip
            if self._wait_listening():
                return self
            self.stop()
        raise Tpm2ToolsError("swtpm did not start")

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False  # lost a port race: try another pair
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Swtpm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def flush(self) -> None:
        """Flush transient objects and sessions: a raw swtpm has no resource manager and only
        three object slots, so every tool's leftovers must go."""
        self.run("tpm2_flushcontext", "-t", flush=False)
        self.run("tpm2_flushcontext", "-s", flush=False)

    def run(self, *args: str, cwd: Path | None = None, flush: bool = True) -> str:
        """Run one tpm2-tools command against this TPM (then flush); returns stdout."""
        proc = subprocess.run(  # noqa: S603 - tpm2-tools binaries, fixed arguments
            list(args), env=self.env, cwd=cwd, capture_output=True, text=True,
            timeout=TIMEOUT, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise Tpm2ToolsError(f"{' '.join(args)}: {proc.stderr.strip()}")
        if flush:
            self.flush()
        return proc.stdout

    def create_ak(self, directory: Path, name: str = "ak", key: str = "ecc") -> Path:
        """tpm2_createek + tpm2_createak (sha256, ECDSA for ecc / RSASSA for rsa).

        Returns the AK context file; ``{name}.pub`` (TPM2B_PUBLIC) and ``{name}.pem`` are written
        next to it.
        """
        directory.mkdir(parents=True, exist_ok=True)
        ek = directory / f"{name}-ek.ctx"
        ctx = directory / f"{name}.ctx"
        scheme = "ecdsa" if key == "ecc" else "rsassa"
        self.run("tpm2_createek", "-c", str(ek), "-G", "rsa", "-u", str(directory / "ek.pub"))
        self.run(
            "tpm2_createak", "-C", str(ek), "-c", str(ctx), "-G", key, "-g", "sha256",
            "-s", scheme, "-u", str(directory / f"{name}.pub"),
            "-n", str(directory / f"{name}.name"),
        )  # fmt: skip
        self.run(
            "tpm2_readpublic", "-c", str(ctx), "-o", str(directory / f"{name}.pem"), "-f", "pem"
        )
        return ctx

    def quote(
        self,
        directory: Path,
        ak_ctx: Path,
        nonce: bytes,
        selection: str = "sha256:0,1,2,3,4,5,6,7",
        prefix: str = "quote",
    ) -> QuoteArtefacts:
        """tpm2_quote -m -s -o with a known nonce (-q)."""
        msg, sig, pcrs = (directory / f"{prefix}.{ext}" for ext in ("msg", "sig", "pcrs"))
        self.run(
            "tpm2_quote", "-c", str(ak_ctx), "-l", selection, "-q", nonce.hex(),
            "-m", str(msg), "-s", str(sig), "-o", str(pcrs), "-g", "sha256",
        )  # fmt: skip
        name = ak_ctx.stem
        return QuoteArtefacts(
            directory=directory,
            ak_public_tss=directory / f"{name}.pub",
            ak_public_pem=directory / f"{name}.pem",
            message=msg,
            signature=sig,
            pcrs=pcrs,
            nonce=nonce,
            selection=selection,
        )

    def extend(self, pcr: int, sha256_hex: str) -> None:
        """tpm2_pcrextend one sha256 digest."""
        self.run("tpm2_pcrextend", f"{pcr}:sha256={sha256_hex}")


def checkquote(art: QuoteArtefacts, ak_public: Path | None = None) -> bool:
    """Run ``tpm2_checkquote`` on the artefacts; True when it accepts them."""
    proc = subprocess.run(  # noqa: S603 - tpm2-tools binary, fixed arguments
        [  # noqa: S607 - found on PATH like every tpm2-tools call
            "tpm2_checkquote", "-u", str(ak_public or art.ak_public_pem), "-m", str(art.message),
            "-s", str(art.signature), "-f", str(art.pcrs), "-g", "sha256", "-q", art.nonce.hex(),
        ],
        capture_output=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    return proc.returncode == 0


@dataclass
class DemoArtefacts:
    """Quotes from two swtpm instances, for tests and benchmarks (see ``demo_artefacts``)."""

    ecc: QuoteArtefacts  # ECDSA P-256 AK, PCR0-7 extended with known digests
    rsa: QuoteArtefacts  # RSASSA-2048 AK, same TPM
    other_ak_pem: Path  # an AK of a second, unrelated TPM
    other_ak_tss: Path
    extended: dict[int, list[str]]  # sha256 digests extended into each PCR


DEMO_NONCE = bytes.fromhex("5ea7c0de0a1b2c3d4e5f60718293a4b5")


def demo_artefacts(directory: Path) -> DemoArtefacts:
    """Start two swtpms, extend PCR0-7, create AKs and quote sha256:0-7 with ``DEMO_NONCE``."""
    extended = {pcr: [hashlib_sha256(f"heatsite pcr{pcr} event{k}") for k in range(2)]
                for pcr in range(8)}  # fmt: skip
    with Swtpm(directory / "tpm1") as tpm:
        for pcr, digests in extended.items():
            for digest in digests:
                tpm.extend(pcr, digest)
        ecc_ak = tpm.create_ak(directory, "ak")
        rsa_ak = tpm.create_ak(directory, "rsaak", key="rsa")
        ecc = tpm.quote(directory, ecc_ak, DEMO_NONCE, prefix="quote")
        rsa_q = tpm.quote(directory, rsa_ak, DEMO_NONCE, prefix="rsaquote")
    other = directory / "other"
    with Swtpm(directory / "tpm2") as tpm2:
        tpm2.create_ak(other, "ak")
    return DemoArtefacts(ecc, rsa_q, other / "ak.pem", other / "ak.pub", extended)


def hashlib_sha256(text: str) -> str:
    """Hex sha256 of a text (the demo event digests)."""
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def shared_demo_artefacts() -> DemoArtefacts:
    """``demo_artefacts`` made once per process in a temporary directory removed at exit
    (lets several test modules share one swtpm run)."""
    directory = Path(tempfile.mkdtemp(prefix="heatsite-quote-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return demo_artefacts(directory)
