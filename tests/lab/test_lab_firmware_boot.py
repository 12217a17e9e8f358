"""A lab node's BIOS update reaches its TPM: the BMC applies the image at the host's next boot,
reports the new release on both faces, and the node's lab TPM measures that release, which the
console's verifier checks against the release's prediction. The ``measures_differently`` fault
makes the booted firmware depart from its prediction by one event."""

import io
import socket
import subprocess

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.attestation import services
from apps.hardware.drivers import driver_for
from apps.lab.bmc.control import BmcControl
from apps.lab.firmware import LAB_FIRMWARE_VERSIONS, LAB_RELEASES, LAB_SKU, release_images
from apps.lab.management.commands.run_lab import TpmLab
from apps.lab.redfish.updates import INVENTORY, build_image, check_image
from apps.lab.tpm.host import attach
from apps.lab.tpm.node import base_configuration, lab_release, start_fleet
from apps.lab.tpm.seed import seed_lab_nodes, seed_lab_reference
from tests.factories import NodeFactory
from tests.lab.redfish_client import Client

OLD, NEW = LAB_FIRMWARE_VERSIONS[:2]
SYSTEM = "/redfish/v1/Systems/1"


def push(client, image):
    files = {
        "UpdateParameters": (None, "{}", "application/json"),
        "UpdateFile": ("image.hsfw", image, "application/octet-stream"),
    }
    response = client.request("POST", "/redfish/v1/UpdateService/upload", files=files)
    assert response.status_code == 202, response.text
    return response.json()


def stage(lab, client, clock, *images):
    """Push ``images`` over the real UpdateService and let their tasks finish (lab clock)."""
    tasks = [push(client, image) for image in images]
    clock.advance(lab.redfish.service(0).update_seconds)
    for task in tasks:
        assert client.json(task["@odata.id"])["TaskState"] == "Completed"


def ipmitool(lab, *args):
    """Debian's ipmitool (lanplus) against the lab BMC's IPMI face: (exit code, output)."""
    command = ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(lab.ipmi.port(0))]
    done = subprocess.run(
        [*command, "-U", "admin", "-P", "password", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout.strip() + done.stderr.strip()


def recorded_on(node, version, lab_node):
    """The console records ``node`` on lab release ``version``, reached at ``lab_node``'s agent."""
    seed_lab_nodes([node], version)
    services.endpoint_register(
        node=node,
        host="127.0.0.1",
        port=lab_node.agent_port,
        cert_fingerprint=lab_node.cert_fingerprint,
        token=lab_node.token,
    )


@pytest.fixture
def lab(make_dual_lab):
    return make_dual_lab(count=1)


@pytest.fixture
def client(lab):
    c = Client(lab.redfish.endpoint(0))
    yield c
    c.close()


# --- without TPMs: the BMC side of the hook ------------------------------------------------


def test_host_listeners_hear_the_activated_release_a_hung_host_and_a_power_off(
    lab, client, lab_redfish_clock
):
    bmc, heard = lab.bmc(0), []
    bmc.host_listeners.append(heard.append)
    stage(lab, client, lab_redfish_clock, build_image("BIOS", NEW))
    assert heard == []  # staged: nothing booted yet
    ipmi = driver_for(lab.ipmi.endpoint(0))
    ipmi.power("cycle")
    (boot,) = heard
    assert (boot.running, boot.firmware["BIOS"], boot.measures_differently) == (True, NEW, False)
    assert boot.boot_count == bmc.boot_count and boot.node == bmc.name
    bmc.faults.no_boot_after_update = True
    stage(lab, client, lab_redfish_clock, build_image("BIOS", OLD))
    client.reset("ForceRestart")
    assert (heard[-1].running, heard[-1].firmware["BIOS"]) == (False, OLD)  # hung in POST
    bmc.faults.no_boot_after_update = False
    client.reset("ForceRestart")
    assert (heard[-1].running, heard[-1].firmware["BIOS"]) == (True, OLD)
    ipmi.power("off")
    assert not heard[-1].running and len(heard) == 4


def test_a_failing_listener_is_logged_and_the_host_still_boots(lab, client):
    def broken(boot):
        raise RuntimeError("swtpm went away")

    lab.bmc(0).host_listeners.append(broken)
    assert client.reset("ForceRestart").status_code == 204
    assert client.json(SYSTEM)["PowerState"] == "On"
    entries = client.json("/redfish/v1/Managers/1/LogServices/SEL/Entries")["Members"]
    messages = [client.json(e["@odata.id"])["Message"] for e in entries]
    assert "Lab host hook failed: swtpm went away" in messages


def test_the_ipmi_face_reports_the_running_bios_release_as_system_firmware_version(
    lab, client, lab_redfish_clock
):
    assert ipmitool(lab, "mc", "getsysinfo", "system_fw_version") == (0, OLD)
    stage(lab, client, lab_redfish_clock, build_image("BIOS", NEW))
    assert ipmitool(lab, "mc", "getsysinfo", "system_fw_version") == (0, OLD)  # staged only
    ipmitool(lab, "power", "reset")
    assert ipmitool(lab, "mc", "getsysinfo", "system_fw_version") == (0, NEW)
    other = ipmitool(lab, "mc", "getsysinfo", "primary_os_name")[1]  # a parameter we do not keep
    assert other == "getsysinfo primary_os_name parameter not supported"


def test_a_bios_version_that_does_not_fit_ipmis_revision_bytes_is_rejected():
    with pytest.raises(ValueError, match="bad BIOS version"):
        check_image(build_image("BIOS", "1.256.0"))


# --- the demo's release images and reference data ---------------------------------------


def test_lab_firmware_images_writes_images_the_bmc_accepts_for_each_release(tmp_path):
    for release in LAB_FIRMWARE_VERSIONS:
        out = io.StringIO()
        call_command(
            "lab_firmware_images", "--release", release, "--out", str(tmp_path), stdout=out
        )
        written = {p.name: p.read_bytes() for p in tmp_path.glob("*-*.hsfw")}
        manifests = [check_image(written[name]) for name in release_images(release)]
        manifests = {m["component"]: m for m in manifests}
        assert manifests["BIOS"]["version"] == release
        assert {m["sku"] for m in manifests.values()} == {LAB_SKU}
        assert all(name in out.getvalue() for name in release_images(release))
    bmc_versions = {check_image(p.read_bytes())["version"] for p in tmp_path.glob("bmc-*.hsfw")}
    assert len(bmc_versions) == len(LAB_FIRMWARE_VERSIONS)  # each release ships its own BMC


@pytest.mark.parametrize(
    ("release", "out", "words"),
    [("9.9.9", None, "no lab firmware release '9.9.9'"), (NEW, "file", "cannot write")],
)
def test_lab_firmware_images_refuses_with_a_reason(tmp_path, release, out, words):
    target = tmp_path / "images"
    if out == "file":
        target.write_text("in the way")
    with pytest.raises(CommandError, match=words):
        call_command("lab_firmware_images", "--release", release, "--out", str(target))


@pytest.mark.django_db
def test_the_seeded_releases_are_the_versions_the_lab_bmcs_report_and_accept(node):
    releases = seed_lab_reference()
    assert sorted(releases) == sorted(LAB_FIRMWARE_VERSIONS)
    for version, row in releases.items():
        bios = check_image(release_images(version)[f"bios-{version}.hsfw"])
        assert bios["version"] == row.version and row.profile.sku == bios["sku"] == LAB_SKU
        assert row.to_release() == lab_release(version)  # the prediction the TPM will meet


# --- with the node's lab TPM (swtpm) -------------------------------------------------------


@pytest.mark.django_db
def test_a_bios_update_pushed_over_redfish_is_measured_by_the_nodes_tpm_after_reset(
    lab, client, lab_redfish_clock, tmp_path, node
):
    fleet = start_fleet(1, tmp_path / "tpm")
    try:
        tpm = fleet.nodes[0]
        attach(lab.bmc(0), tpm)
        recorded_on(node, OLD, tpm)
        assert services.attest(node_id=node.pk).verdict == "trusted"
        call_command("lab_firmware_images", "--release", NEW, "--out", str(tmp_path / "fw"),
                     stdout=io.StringIO())  # fmt: skip
        images = [(tmp_path / "fw" / name).read_bytes() for name in release_images(NEW)]
        stage(lab, client, lab_redfish_clock, *images)
        assert client.json(SYSTEM)["BiosVersion"] == OLD  # staged, not running
        ipmi = driver_for(lab.ipmi.endpoint(0))
        ipmi.power("reset")
        assert client.json(SYSTEM)["BiosVersion"] == NEW
        assert client.json(f"{INVENTORY}/BIOS")["Version"] == NEW
        assert ipmitool(lab, "mc", "getsysinfo", "system_fw_version") == (0, NEW)
        ipmi_versions = {f.component: f.version for f in ipmi.firmware()}
        major, minor, patch = NEW.split(".")  # the lab's auxiliary revision: major.minor.0.patch
        assert ipmi_versions["BMC auxiliary"] == f"{major}.{minor}.0.{patch}"
        assert ipmi_versions["BMC Version"] == LAB_RELEASES[NEW]["BMC"]  # its BMC image too
        old = services.attest(node_id=node.pk)  # the console still expects the old release
        assert (old.verdict, old.reason_code) == ("mismatch", "firmware")
        assert [d["pcr"] for d in old.divergences] == [0]
        assert f"firmware differs from release {OLD}" in old.reason
        recorded_on(node, NEW, tpm)
        new = services.attest(node_id=node.pk)
        assert (new.verdict, new.release_version) == ("trusted", NEW)
    finally:
        fleet.stop()


@pytest.mark.django_db
def test_the_nodes_agent_answers_only_while_its_host_runs(
    lab, client, lab_redfish_clock, tmp_path, node
):
    fleet = start_fleet(1, tmp_path / "tpm")
    try:
        tpm = fleet.nodes[0]
        attach(lab.bmc(0), tpm)
        recorded_on(node, OLD, tpm)
        assert services.attest(node_id=node.pk).verdict == "trusted"  # enrolled
        ipmi = driver_for(lab.ipmi.endpoint(0))
        ipmi.power("off")
        assert services.attest(node_id=node.pk).verdict == "unreachable"
        ipmi.power("on")
        assert services.attest(node_id=node.pk).verdict == "trusted"  # same agent, same port
        lab.bmc(0).faults.no_boot_after_update = True
        stage(lab, client, lab_redfish_clock, build_image("BIOS", NEW))
        client.reset("ForceRestart")
        assert client.json(SYSTEM)["BiosVersion"] == NEW  # installed...
        assert services.attest(node_id=node.pk).verdict == "unreachable"  # ...but never booted
        lab.bmc(0).faults.no_boot_after_update = False
        client.reset("ForceRestart")
        recorded_on(node, NEW, tpm)
        assert services.attest(node_id=node.pk).verdict == "trusted"
    finally:
        fleet.stop()


@pytest.mark.django_db
def test_measures_differently_set_over_lab_control_names_the_divergent_event(
    lab, client, lab_redfish_clock, tmp_path, node
):
    bmc = lab.bmc(0)
    tpm_lab = TpmLab(tmp_path / "tpm")
    tpm_lab.reference[bmc.name] = (lab_release(OLD), base_configuration())
    tpm_lab.start()
    try:
        tpm_lab.bmc_control = BmcControl({bmc.name: bmc}, lab.redfish)
        assert tpm_lab.attach_hosts({bmc.name: bmc}) == []
        port = str(tpm_lab.serve_control(0))
        recorded_on(node, NEW, tpm_lab.nodes[bmc.name])

        def lab_control(*args):
            out = io.StringIO()
            call_command("lab_control", bmc.name, *args, "--port", port, stdout=out)
            return out.getvalue()

        assert "measures_differently on" in lab_control("fault", "--fault", "measures_differently")
        assert bmc.faults.measures_differently
        stage(lab, client, lab_redfish_clock, build_image("BIOS", NEW))
        client.reset("ForceRestart")
        assert client.json(SYSTEM)["BiosVersion"] == NEW  # it says it is the new release...
        result = services.attest(node_id=node.pk)  # ...but does not measure like it
        assert (result.verdict, result.reason_code) == ("mismatch", "firmware")
        (divergence,) = result.divergences
        assert divergence["pcr"] == 0 and divergence["index"] == 2  # the second firmware volume
        assert divergence["expected"].startswith("EV_EFI_PLATFORM_FIRMWARE_BLOB")
        assert divergence["actual"].startswith("EV_EFI_PLATFORM_FIRMWARE_BLOB")
        assert divergence["expected"] != divergence["actual"]
        assert f"firmware differs from release {NEW} (EV_EFI_PLATFORM_FIRMWARE_BLOB" in (
            result.reason
        )
        client.reset("ForceRestart")  # the deviating build stays installed across boots
        assert services.attest(node_id=node.pk).reason_code == "firmware"

        assert "measures_differently off" in lab_control(
            "fault", "--fault", "measures_differently", "--off"
        )
        assert not bmc.faults.measures_differently
        stage(lab, client, lab_redfish_clock, build_image("BIOS", NEW))
        client.reset("ForceRestart")
        assert services.attest(node_id=node.pk).verdict == "trusted"

        # and a flash through lab_control moves what the BMC reports too
        assert f"booted release {OLD}" in lab_control("flash", "--release", OLD)
        assert client.json(SYSTEM)["BiosVersion"] == OLD
        with pytest.raises(CommandError, match=r"bad BIOS version 'one\.two'"):
            lab_control("flash", "--release", "one.two")
        assert client.json(SYSTEM)["BiosVersion"] == OLD  # nothing changed
        assert tpm_lab.nodes[bmc.name].release.version == OLD
    finally:
        tpm_lab.stop()


@pytest.mark.django_db
def test_run_lab_ties_each_nodes_tpm_to_its_bmc_which_reports_the_recorded_release(
    tmp_path, monkeypatch
):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        udp = probe.getsockname()[1]
    node = NodeFactory(name="boiler-9", bmc_port=udp)
    seed_lab_nodes([node], NEW)
    seen = {}
    stop = TpmLab.stop

    def look_then_stop(self):  # the lab as it ran, just before run_lab tears it down
        for name, link in self.hosts.items():
            seen[name] = (link.bmc.bios_version, link.node.release.version)
            seen[f"{name} listeners"] = link.bmc.host_listeners.count(link.host_changed)
        stop(self)

    monkeypatch.setattr(TpmLab, "stop", look_then_stop)
    out = io.StringIO()
    call_command("run_lab", "--no-redfish", "--run-for=0.01", "--sync-every=0.01",
                 f"--tpm-state-dir={tmp_path}", stdout=out)  # fmt: skip
    assert seen == {"boiler-9": (NEW, NEW), "boiler-9 listeners": 1}
    assert "not tied" not in out.getvalue()
