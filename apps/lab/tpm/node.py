"""Lab TPM nodes: a swtpm, a firmware release, a configuration, an agent, and lab controls.

A node "boots" like real hardware measured by the same model the verifier predicts with: power
cycle the TPM, compute the event sequence from (release, configuration), extend it into the sha1
and sha256 banks, and write the binary event log where the agent reads it. Controls change the
hardware or firmware and reboot: plug a NIC with an option ROM, change BootOrder, flash another
build; ``tamper_log`` rewrites the log behind the TPM's back.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from heatsite_agent.client import AgentClient
from heatsite_agent.server import Agent, AgentConfig, ensure_certificate

from apps.attestation.predict import (
    EV_EFI_BOOT_SERVICES_APPLICATION,
    BootBinary,
    BootEntry,
    FirmwareRelease,
    NodeConfiguration,
    OptionRom,
    PlatformProfile,
    Prediction,
    Variants,
    authenticode_digest,
    edk2_template,
    gpt_event_data,
    load_option,
    predict,
)
from apps.lab.firmware import LAB_FIRMWARE_VERSIONS, LAB_SKU

from . import artefacts, tpm2
from .swtpm import PortsInUse, Swtpm, find_free_port_range

LAB_PROFILE = PlatformProfile(LAB_SKU, "Heatsite edge node (lab)")
# NIC models of the lab: (PCI vendor, device) of their option ROM.
NIC_MODELS = {"nic-a": (0x8086, 0x10D3), "nic-b": (0x15B3, 0x1017)}
APPROVED_NICS = ("nic-a",)
LOADER_PATH = "\\EFI\\heatsite\\loader.efi"


def lab_release(version: str, *, measures_differently: bool = False) -> FirmwareRelease:
    """A lab firmware build: reference measurements computed from its (synthetic) volumes.

    ``measures_differently``: the build a node runs under that lab fault: it says it is
    ``version``, but its second firmware volume is not the released one, so PCR0 gets one
    EV_EFI_PLATFORM_FIRMWARE_BLOB measurement the release's reference does not predict.
    """
    volumes = [artefacts.firmware_volume(version, 0), artefacts.firmware_volume(version, 1)]
    if measures_differently:
        volumes[1] = artefacts.firmware_volume(f"{version}+unreleased", 1)
    template = edk2_template(
        firmware_blobs=volumes, crtm_version=version.encode("utf-16-le") + b"\0\0"
    )
    return FirmwareRelease(version, LAB_SKU, template, source="artefacts")


def nic_rom(model: str) -> bytes:
    """The option ROM file of a lab NIC model (legacy image + UEFI driver)."""
    if model not in NIC_MODELS:
        raise ValueError(f"unknown lab NIC model {model!r}; known: {', '.join(NIC_MODELS)}")
    vendor, device = NIC_MODELS[model]
    return artefacts.build_option_rom(artefacts.lab_driver(model), vendor, device)


def nic_option_rom(model: str, slot: int) -> OptionRom:
    """A lab NIC of ``model`` plugged into PCIe slot (device) ``slot``."""
    return OptionRom(f"PciRoot(0x0)/Pci(0x{slot:x},0x0)", rom=nic_rom(model), name=model)


def _lab_disk_gpt() -> bytes:
    disk = artefacts.build_gpt(
        4 * 1024 * 1024,
        [
            (artefacts.ESP_TYPE, "0b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9", 2048, 4095, "ESP"),
            (artefacts.LINUX_DATA_TYPE, "1c2d3e4f-5061-4728-9304-b5c6d7e8f901", 4096, 8157, "root"),
        ],
        "6c1e8d4a-2f8b-4a57-9d0e-5a1f2b3c4d5e",
    )
    return gpt_event_data(bytes(disk))


_LAB_GPT = _lab_disk_gpt()
_LAB_LOADER = artefacts.lab_loader("heatsite-loader-2.1")


def base_configuration() -> NodeConfiguration:
    """The lab's reference node: Secure Boot on, disk then PXE, no add-in card."""
    loader = BootBinary(
        LOADER_PATH, digests={b: authenticode_digest(_LAB_LOADER, b) for b in ("sha1", "sha256")}
    )
    return NodeConfiguration(
        secure_boot=True,
        pk=b"heatsite-lab-PK",
        kek=b"heatsite-lab-KEK",
        db=b"heatsite-lab-db",
        dbx=b"heatsite-lab-dbx",
        boot_order=(1, 2),
        boot_entries=(
            BootEntry(1, load_option("heatsite", f"PciRoot(0x0)/Pci(0x1,0x0)/{LOADER_PATH}")),
            BootEntry(2, load_option("PXE IPv4", "PciRoot(0x0)/Pci(0x3,0x0)")),
        ),
        gpt=_LAB_GPT,
        boot_binaries=(loader,),
    )


def approved_variants(slot: int = 2) -> Variants:
    """Approved alternatives of the lab node: no add-in NIC, or an approved NIC in ``slot``."""
    return Variants(option_rom_sets=((), *tuple((nic_option_rom(m, slot),) for m in APPROVED_NICS)))


class LabTpmNode:
    """One lab node with its own swtpm (ports P, P+1) and agent (HTTPS on an ephemeral port)."""

    def __init__(
        self,
        name: str,
        state_dir: Path,
        port: int,
        release: FirmwareRelease | None = None,
        config: NodeConfiguration | None = None,
    ) -> None:
        self.name = name
        self.state_dir = Path(state_dir)
        self.swtpm = Swtpm(self.state_dir / "tpm", port)
        self.eventlog_path = self.state_dir / "binary_bios_measurements"
        self.release = release or lab_release(LAB_FIRMWARE_VERSIONS[0])
        self.measures_differently = False  # runs a deviating build of its release (lab fault)
        self.config = config or base_configuration()
        self.profile = LAB_PROFILE
        self.token = secrets.token_bytes(32)
        self.agent: Agent | None = None
        self._agent_port = 0  # kept while the host is down, so the agent comes back there
        self._host_down = False
        self._agent_stopping: threading.Thread | None = None
        self.cert_fingerprint = ""
        self.last_boot: Prediction | None = None
        self._lock = threading.Lock()

    # --- lifecycle ---

    def start(self, with_agent: bool = True) -> None:
        """Start the TPM, boot, and (optionally) the agent."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.swtpm.start()
        self.boot()
        if with_agent:
            self.start_agent()

    def start_agent(self) -> int:
        """Start this node's agent in a thread (on its former port, if it had one); returns its
        HTTPS port."""
        cert, key = self.state_dir / "agent-cert.pem", self.state_dir / "agent-key.pem"
        self.cert_fingerprint = ensure_certificate(str(cert), str(key), self.name)
        config = AgentConfig(
            self.swtpm.tcti,
            str(self.eventlog_path),
            "127.0.0.1",
            self._agent_port,
            self.token,
            str(cert),
            str(key),
        )
        self.agent = Agent(config)
        self._agent_port = self.agent.start()
        return self._agent_port

    @property
    def agent_port(self) -> int:
        return self.agent.config.port if self.agent else self._agent_port

    def host_down(self) -> None:
        """The host is off or hung in POST: no OS, so no agent answers.

        Connections are refused at once; the agent's server thread notices within half a
        second, in the background, so the BMC that announced it is not held up."""
        agent, self.agent = self.agent, None
        if agent is None:
            return
        self._host_down = True
        server = agent._httpd  # the agent package offers no non-blocking stop
        if server is not None:
            with contextlib.suppress(OSError):
                server.socket.shutdown(socket.SHUT_RDWR)  # a listening socket: stop accepting
        self._agent_stopping = threading.Thread(target=agent.stop, name="lab-agent-stop")
        self._agent_stopping.start()

    def host_up(self) -> None:
        """The host's OS is up again: its agent answers where it did before."""
        if self._host_down:
            self._host_down = False
            if self._agent_stopping is not None:
                self._agent_stopping.join()  # the port is free again
                self._agent_stopping = None
            self.start_agent()

    def client(self) -> AgentClient:
        """A verifier-side client for this node's agent."""
        return AgentClient("127.0.0.1", self.agent_port, self.token, self.cert_fingerprint)

    def stop(self) -> None:
        """Stop agent and swtpm (state stays on disk)."""
        if self.agent is not None:
            self.agent.stop()
            self.agent = None
        if self._agent_stopping is not None:
            self._agent_stopping.join()
            self._agent_stopping = None
        self.swtpm.stop()

    # --- boot and controls ---

    def boot(self) -> Prediction:
        """Power-cycle the TPM and measure this node's firmware + configuration into it."""
        with self._lock:
            boot = predict(self.profile, self.release, self.config)
            self.swtpm.power_cycle()
            tpm2.extend_events(self.swtpm.tcti, boot.events, self.profile.banks)
            tmp = self.eventlog_path.with_suffix(".tmp")
            tmp.write_bytes(boot.eventlog(self.profile.banks))
            tmp.replace(self.eventlog_path)
            self.last_boot = boot
            return boot

    def plug_nic(self, model: str, slot: int = 2, reboot: bool = True) -> None:
        """Plug a NIC with an option ROM into PCIe slot ``slot`` (replacing what was there)."""
        rom = nic_option_rom(model, slot)
        others = tuple(r for r in self.config.option_roms if r.pci_path != rom.pci_path)
        self.config = replace(self.config, option_roms=(*others, rom))
        if reboot:
            self.boot()

    def unplug_nic(self, slot: int = 2, reboot: bool = True) -> None:
        """Remove the card in PCIe slot ``slot``."""
        path = f"PciRoot(0x0)/Pci(0x{slot:x},0x0)"
        self.config = replace(
            self.config, option_roms=tuple(r for r in self.config.option_roms if r.pci_path != path)
        )
        if reboot:
            self.boot()

    def set_boot_order(self, order: tuple[int, ...], reboot: bool = True) -> None:
        """Change the BootOrder variable."""
        self.config = replace(self.config, boot_order=tuple(order))
        if reboot:
            self.boot()

    def flash(self, version: str, reboot: bool = True, *, measures_differently: bool = False):
        """Flash another lab firmware build (``measures_differently``: see `lab_release`)."""
        with self._lock:
            self.release = lab_release(version, measures_differently=measures_differently)
            self.measures_differently = measures_differently
        if reboot:
            self.boot()

    def tamper_log(self) -> None:
        """Rewrite the event log to hide a changed boot loader: it no longer replays to the TPM."""
        if self.last_boot is None:
            raise RuntimeError("node has not booted yet")
        fake = artefacts.lab_loader("not-what-ran")
        events = [
            replace(e, digests={b: authenticode_digest(fake, b) for b in e.digests})
            if e.type == EV_EFI_BOOT_SERVICES_APPLICATION
            else e
            for e in self.last_boot.events
        ]
        forged = replace(self.last_boot, events=tuple(events))
        self.eventlog_path.write_bytes(forged.eventlog(self.profile.banks))


class LabTpmFleet:
    """N lab nodes in one process: swtpm port pairs from ``base_port``, agents in threads."""

    def __init__(
        self, count: int, base_port: int, state_dir: Path, prefix: str = "lab-node"
    ) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self.nodes = [
            LabTpmNode(
                f"{prefix}-{i:03d}", Path(state_dir) / f"{prefix}-{i:03d}", base_port + 2 * i
            )
            for i in range(count)
        ]

    def start(self, workers: int = 8) -> None:
        """Start every node (TPM, boot, agent); on failure stop what started and re-raise."""
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(lambda n: n.start(), self.nodes))
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every node (in parallel: each agent's server loop takes up to 0.5 s to notice)."""
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(lambda n: n.stop(), self.nodes))


def start_fleet(count: int, state_dir: Path, attempts: int = 5) -> LabTpmFleet:
    """Start ``count`` nodes on free loopback ports, retrying elsewhere if another process takes
    a port between the check and swtpm's bind (tests and benchmarks share the machine)."""
    for attempt in range(attempts):
        base = find_free_port_range(count, random.randrange(20000, 50000, 2))
        fleet = LabTpmFleet(count, base, state_dir)
        try:
            fleet.start()
            return fleet
        except PortsInUse:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
