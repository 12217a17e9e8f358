"""Real firmware: Debian's OVMF under QEMU (TCG) with swtpm measures what we predicted from files.

The boot disk is built here (GPT with fixed GUIDs + FAT ESP) around a tiny hand-assembled EFI
application that, instead of booting an OS, asks the firmware's EFI_TCG2_PROTOCOL for the event
log (GetEventLog) and for the sha256/sha1 PCR0-7 values (SubmitCommand TPM2_PCR_Read), leaves
their addresses in registers and spins. The test reads the registers over QMP and copies guest
memory out with ``pmemsave``: the PCR values are the TPM's own, not a replay.

One golden boot provides what cannot be computed from files (PCR0 of this OVMF build and VM
shape, the firmware's default boot entries); then a fresh boot, and one with an e1000 NIC
carrying iPXE's UEFI option ROM, must equal the prediction computed from the disk image, the
application and the ROM file.
"""

import json
import re
import shutil
import socket
import struct
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from apps.attestation import predict as p
from apps.attestation.tcg.eventlog import (
    parse_event_log,
    replay,
    replay_log,
    serialize_crypto_agile,
)
from apps.lab.tpm.artefacts import build_boot_disk, build_pe

pytestmark = pytest.mark.slow

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
E1000_ROM = Path("/usr/lib/ipxe/qemu/efi-e1000.rom")
NIC_SLOT = 5
SENTINEL = 0x4845415453495445  # "HEATSITE", left in r15 once the results are in memory
OVMF_PROFILE = p.PlatformProfile("qemu-q35-1cpu-1g", "QEMU q35, 1 vCPU, 1 GiB, OVMF 4M")

# x86-64, MS ABI, position independent (GNU as, intel syntax):
#   push rbx/r12/r13/r14/r15; sub rsp,0x1000; mov rbx,[rdx+0x60]        ; BootServices
#   LocateProtocol(&EFI_TCG2_PROTOCOL_GUID, NULL, &tcg2)                   ; [rbx+0x140]
#   tcg2->GetEventLog(tcg2, TCG_2, &loc, &last, &truncated)                ; [r14+8]
#   r12 = loc, r13 = last
#   tcg2->SubmitCommand(tcg2, 20, PCR_Read(sha256:0-7), 0x200, rsp+0x100)  ; [r14+0x18]
#   tcg2->SubmitCommand(tcg2, 20, PCR_Read(sha1:0-7),   0x200, rsp+0x300)
#   rbx = rsp+0x100; r15 = SENTINEL; spin: pause; jmp spin
#   guid 607f766c-7455-42be-930b-e4d76db2720f; the two 20-byte TPM2_PCR_Read commands
APP_CODE = bytes.fromhex(
    "5341544155415641574881ec00100000488b5a60488d0d9e00000031d24c8d442440ff93400100004c8b7424"
    "404c89f1ba020000004c8d4424484c8d4c2450488d442458488944242041ff56084c8b6424484c8b6c24504c"
    "89f1ba140000004c8d056300000041b900020000488d842400010000488944242041ff56184c89f1ba140000"
    "004c8d055100000041b900020000488d842400030000488944242041ff5618488d9c240001000049bf455449"
    "5354414548f390ebfc6c767f605574be42930be4d76db2720f8001000000140000017e00000001000b03ff00"
    "008001000000140000017e00000001000403ff0000"
)


class _Qmp:
    def __init__(self, path: Path, deadline: float) -> None:
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(str(path))
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.file = self.sock.makefile("rwb")
        json.loads(self.file.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, name: str, **args: object) -> object:
        msg = {"execute": name, **({"arguments": args} if args else {})}
        self.file.write(json.dumps(msg).encode() + b"\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "error" in reply:
                raise RuntimeError(f"QMP {name}: {reply['error']}")
            if "return" in reply:
                return reply["return"]

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _boot(work: Path, disk: Path, extra: list[str]) -> tuple[bytes, dict, dict]:
    """Boot OVMF with a fresh swtpm and fresh NVRAM -> (event log, sha256 PCRs, sha1 PCRs)."""
    work.mkdir(parents=True)
    (work / "tpm").mkdir()
    shutil.copy(OVMF_VARS, work / "vars.fd")
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    "swtpm",
                    "socket",
                    "--tpm2",
                    "--tpmstate",
                    f"dir={work / 'tpm'}",
                    "--ctrl",
                    f"type=unixio,path={work / 'swtpm.sock'}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 30
        while not (work / "swtpm.sock").exists():
            assert time.monotonic() < deadline, "swtpm did not create its socket"
            time.sleep(0.05)
        procs.append(
            subprocess.Popen(
                [
                    "qemu-system-x86_64",
                    "-machine",
                    "q35",
                    "-accel",
                    "tcg",
                    "-m",
                    "1024",
                    "-smp",
                    "1",
                    "-nodefaults",
                    "-display",
                    "none",
                    "-serial",
                    "none",
                    "-qmp",
                    f"unix:{work / 'qmp.sock'},server=on,wait=off",
                    "-drive",
                    f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                    "-drive",
                    f"if=pflash,format=raw,unit=1,file={work / 'vars.fd'}",
                    "-drive",
                    f"if=none,id=disk0,format=raw,file={disk}",
                    "-device",
                    "virtio-blk-pci,drive=disk0,bootindex=0",
                    "-chardev",
                    f"socket,id=chrtpm,path={work / 'swtpm.sock'}",
                    "-tpmdev",
                    "emulator,id=tpm0,chardev=chrtpm",
                    "-device",
                    "tpm-tis,tpmdev=tpm0",
                    *extra,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        qmp = _Qmp(work / "qmp.sock", time.monotonic() + 30)
        try:
            regs: dict[str, int] = {}
            deadline = time.monotonic() + 150  # ~8 s normally; generous for a busy machine
            while regs.get("R15") != SENTINEL:
                assert time.monotonic() < deadline, "the EFI application never reported back"
                assert procs[1].poll() is None, "qemu exited before the application ran"
                time.sleep(1)
                out = qmp.cmd("human-monitor-command", **{"command-line": "info registers"})
                regs = {k: int(v, 16) for k, v in re.findall(r"\b(R\w+)=([0-9a-f]{16})", out)}
            qmp.cmd("stop")
            qmp.cmd("pmemsave", val=regs["RBX"], size=0x400, filename=str(work / "pcrs.bin"))
            last = regs["R13"] - regs["R12"]
            qmp.cmd(
                "pmemsave", val=regs["R12"], size=last + 0x10000, filename=str(work / "log.bin")
            )
            qmp.cmd("quit")
        finally:
            qmp.close()
        procs[1].wait(timeout=30)
        raw = (work / "pcrs.bin").read_bytes()
        log = _cut_log((work / "log.bin").read_bytes(), last)
        return log, _pcr_read_response(raw[:0x200]), _pcr_read_response(raw[0x200:])
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


def _cut_log(buf: bytes, last: int) -> bytes:
    """The log up to the end of the record at offset ``last`` (GetEventLog's last entry)."""
    (nalgs,) = struct.unpack_from("<I", buf, 32 + 24)
    sizes = dict(struct.unpack_from("<HH", buf, 32 + 28 + 4 * i) for i in range(nalgs))
    off = last + 8
    (count,) = struct.unpack_from("<I", buf, off)
    off += 4
    for _ in range(count):
        (alg,) = struct.unpack_from("<H", buf, off)
        off += 2 + sizes[alg]
    (size,) = struct.unpack_from("<I", buf, off)
    return buf[: off + 4 + size]


def _pcr_read_response(resp: bytes) -> dict[int, str]:
    tag, size, rc = struct.unpack_from(">HII", resp, 0)
    assert (tag, rc) == (0x8001, 0), f"TPM2_PCR_Read failed: rc=0x{rc:x}"
    off = 10 + 4 + 10  # header, pcrUpdateCounter, one-bank TPML_PCR_SELECTION
    (count,) = struct.unpack_from(">I", resp, off)
    off += 4
    out = {}
    for i in range(count):
        (n,) = struct.unpack_from(">H", resp, off)
        out[i] = resp[off + 2 : off + 2 + n].hex()
        off += 2 + n
    assert off == size
    return out


@pytest.fixture(scope="module")
def app() -> bytes:
    return build_pe(APP_CODE)


@pytest.fixture(scope="module")
def disk(tmp_path_factory, app) -> Path:
    path = tmp_path_factory.mktemp("disk") / "disk.img"
    path.write_bytes(build_boot_disk(app))
    return path


@pytest.fixture(scope="module")
def boots(tmp_path_factory, disk):
    """Three real boots: golden, base (fresh TPM and NVRAM), base + e1000 with its UEFI ROM."""
    root = tmp_path_factory.mktemp("ovmf")
    nic = ["-device", f"e1000,romfile={E1000_ROM},addr=0x{NIC_SLOT:x}"]
    return {
        "golden": _boot(root / "golden", disk, []),
        "base": _boot(root / "base", disk, []),
        "nic": _boot(root / "nic", disk, nic),
    }


@pytest.fixture(scope="module")
def model(boots, disk, app):
    """Release harvested from the golden log; configuration computed from files."""
    golden_log = boots["golden"][0]
    release = p.harvest_reference(
        golden_log, "edk2-stable202211 (Debian 2022.11-6)", OVMF_PROFILE.sku
    )
    order, entries = p.boot_entries_from_eventlog(golden_log)
    config = p.NodeConfiguration(
        secure_boot=False,  # this OVMF build has Secure Boot support but no keys enrolled
        boot_order=order,
        boot_entries=entries,
        gpt=p.gpt_event_data(disk.read_bytes()),
        boot_binaries=(p.BootBinary("\\EFI\\BOOT\\BOOTX64.EFI", image=app),),
    )
    return release, config


def test_the_golden_log_replays_to_the_tpm(boots):
    log, sha256, sha1 = boots["golden"]
    events, locality = p.parse_eventlog(log)
    assert p.replay(events, ["sha256", "sha1"], locality=locality) == {
        "sha256": sha256,
        "sha1": sha1,
    }


@pytest.mark.parametrize("boot", ["golden", "nic"])
def test_the_firmware_log_parses_strictly_and_the_fast_replay_reaches_the_tpm(boots, boot):
    """The real firmware's log through apps.attestation.tcg.eventlog: every payload decodes,
    both replays give the TPM's own PCR values, and the writer reproduces it byte for byte."""
    log, sha256, sha1 = boots[boot]
    parsed = parse_event_log(log, strict=True)
    assert parsed.format == "crypto-agile"
    fast = replay_log(log)
    assert fast == replay(parsed)
    for bank, tpm in (("sha256", sha256), ("sha1", sha1)):
        assert {i: fast[bank][i].hex() for i in range(8)} == tpm
    assert serialize_crypto_agile(parsed.events, list(parsed.banks)) == log
    kinds = {e.type_name for e in parsed.events}
    assert {"EV_EFI_VARIABLE_BOOT", "EV_EFI_GPT_EVENT", "EV_EFI_BOOT_SERVICES_APPLICATION"} <= kinds
    (app,) = [e for e in parsed.events if e.type_name == "EV_EFI_BOOT_SERVICES_APPLICATION"]
    assert app.decoded.device_path.endswith("/File(\\EFI\\BOOT\\BOOTX64.EFI)")
    drivers = [e for e in parsed.events if e.type_name == "EV_EFI_BOOT_SERVICES_DRIVER"]
    if boot == "nic":
        assert {d.decoded.device_path.split("/Offset")[0] for d in drivers} == {
            f"PciRoot(0x0)/Pci(0x{NIC_SLOT:x},0x0)"
        }


def test_prediction_from_files_equals_a_fresh_boot(boots, model):
    release, config = model
    prediction = p.predict(OVMF_PROFILE, release, config)
    _, sha256, sha1 = boots["base"]
    assert prediction.pcrs["sha256"] == sha256
    assert prediction.pcrs["sha1"] == sha1


def test_prediction_with_the_option_rom_nic_equals_the_boot_with_it(boots, model):
    release, config = model
    rom = p.OptionRom(f"PciRoot(0x0)/Pci(0x{NIC_SLOT:x},0x0)", rom=E1000_ROM.read_bytes())
    prediction = p.predict(OVMF_PROFILE, release, replace(config, option_roms=(rom,)))
    _, sha256, sha1 = boots["nic"]
    assert prediction.pcrs["sha256"] == sha256
    assert prediction.pcrs["sha1"] == sha1
    base = boots["base"][1]
    assert [i for i in range(8) if sha256[i] != base[i]] == [2]


def test_explanation_of_the_nic_boot_names_pcr2_and_the_slot(boots, model):
    release, config = model
    log, sha256, _ = boots["nic"]
    (d,) = p.explain(p.predict(OVMF_PROFILE, release, config), log, sha256)
    assert (d.pcr, d.kind) == (2, "option_rom")
    assert f"PciRoot(0x0)/Pci(0x{NIC_SLOT:x},0x0)" in d.message


def test_boot_disk_and_application_are_reproducible(app, disk):
    again = build_boot_disk(build_pe(APP_CODE))
    assert p.gpt_event_data(again) == p.gpt_event_data(disk.read_bytes())
    assert p.authenticode_digest(build_pe(APP_CODE)) == p.authenticode_digest(app)
