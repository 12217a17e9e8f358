"""One swtpm process per lab node, on a loopback TCP port pair (data P, control P+1)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from . import tpm2


class SwtpmError(RuntimeError):
    """swtpm could not be started or controlled."""


class PortsInUse(SwtpmError):
    """The port pair is taken (another process got there first)."""


def port_pair_free(port: int) -> bool:
    """True if both ``port`` and ``port + 1`` can be bound on 127.0.0.1 right now."""
    for p in (port, port + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def find_free_port_pair(start: int = 20000, end: int = 60000) -> int:
    """The first even port P >= start with P and P+1 free (racy by nature: retry on failure)."""
    return find_free_port_range(1, start, end)


def find_free_port_range(count: int, start: int = 20000, end: int = 60000) -> int:
    """The first even port P >= start with P .. P + 2*count - 1 all free (racy: retry on
    ``PortsInUse``)."""
    port = start - start % 2
    while port + 2 * count <= end:
        busy = next((i for i in range(count) if not port_pair_free(port + 2 * i)), None)
        if busy is None:
            return port
        port += 2 * (busy + 1)
    raise SwtpmError(f"no {count} free port pairs in {start}..{end}")


class Swtpm:
    """A swtpm TPM 2.0 instance with its state in ``state_dir``, listening on 127.0.0.1."""

    def __init__(self, state_dir: Path, port: int) -> None:
        self.state_dir = Path(state_dir)
        self.port = port
        self.ctrl_port = port + 1
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def tcti(self) -> str:
        """TCTI string; libtss2's swtpm TCTI uses port + 1 as the control port implicitly."""
        return f"swtpm:host=127.0.0.1,port={self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start swtpm (TPM initialised and started) and wait until it accepts connections."""
        binary = shutil.which("swtpm")
        if binary is None:
            raise SwtpmError("swtpm not found (Debian package swtpm)")
        if not port_pair_free(self.port):
            # Otherwise the readiness probe below could reach another process on these ports.
            raise PortsInUse(f"ports {self.port}/{self.ctrl_port} are already in use")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(  # noqa: S603 - fixed binary, arguments we built
            [
                binary,
                "socket",
                "--tpm2",
                "--tpmstate",
                f"dir={self.state_dir}",
                "--server",
                f"type=tcp,port={self.port},bindaddr=127.0.0.1",
                "--ctrl",
                f"type=tcp,port={self.ctrl_port},bindaddr=127.0.0.1",
                "--flags",
                "not-need-init,startup-clear",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                _, raw = self._proc.communicate(timeout=10)
                err = raw.decode(errors="replace").strip()
                self._proc = None
                raise SwtpmError(f"swtpm on port {self.port} exited: {err or 'no message'}")
            try:
                # Both channels must listen; a bare connect/close does not disturb swtpm.
                for port in (self.ctrl_port, self.port):
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        pass
                if self._proc.poll() is None:
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise SwtpmError(f"swtpm on port {self.port} did not come up within {timeout} s")

    def power_cycle(self) -> None:
        """Reboot the TPM: PCRs back to initial values, resetCount + 1, Startup(CLEAR)."""
        tpm2.power_cycle("127.0.0.1", self.ctrl_port, self.tcti)

    def stop(self) -> None:
        """Terminate the process (state stays in state_dir)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
