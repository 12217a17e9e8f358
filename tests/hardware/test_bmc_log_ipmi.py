"""The BMC log over IPMI: the lab BMC's SEL (Get SEL Entry) holds the same events its Redfish
face lists, and the IPMI driver reads them (pyghmi's SEL walk) newest first, intrusions marked;
the details read and the node page then show an IPMI node's log too (dual lab)."""

import datetime
import shutil
import subprocess

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.hardware import details
from apps.hardware.drivers import BmcEndpoint, BmcError, driver_for
from apps.hardware.drivers.redfish import transport
from tests.hardware.redfish_nodes import dual_lab_node

pytestmark = pytest.mark.usefixtures("fresh_breaker")

START = datetime.datetime(2026, 11, 30, 22, 15, tzinfo=datetime.UTC)


@pytest.fixture
def lab(make_dual_lab):
    lab = make_dual_lab(count=1)
    bmc = lab.bmc(0)
    bmc.clear_events()
    for minutes, (sensor, message, severity) in enumerate(
        [
            ("System ACPI Power State", "Host powered on (boot #1)", "OK"),
            ("Fan", "Fan 2 below lower critical", "Warning"),
            ("Physical Chassis Security", "General chassis intrusion: cover opened", "Critical"),
        ]
    ):
        bmc.log_event(sensor, message, severity)["created"] = START + datetime.timedelta(
            minutes=minutes
        )
    yield lab
    transport.close_all()


def test_both_faces_list_the_same_events_newest_first(lab):
    over_ipmi = driver_for(lab.ipmi.endpoint(0)).bmc_log(limit=10)
    face = lab.redfish.endpoint(0)
    redfish = BmcEndpoint(
        host=face.host,
        port=face.port,
        username=face.username,
        password=face.password,
        protocol="redfish",
        tls_fingerprint=face.fingerprint,
    )
    over_redfish = driver_for(redfish).bmc_log(limit=10)
    assert [e.id for e in over_ipmi] == [e.id for e in over_redfish] == ["3", "2", "1"]
    assert [e.created for e in over_ipmi] == [e.created for e in over_redfish]
    assert over_ipmi[0].created == START + datetime.timedelta(minutes=2)
    assert [e.intrusion for e in over_ipmi] == [True, False, False]
    newest = over_ipmi[0]
    assert (newest.sensor_type, newest.log) == ("Physical Security", "SEL")
    assert newest.message == "Chassis intrusion" and newest.severity == "critical"
    assert "Fan1" in over_ipmi[1].message and over_ipmi[1].severity in ("warning", "critical")


def test_the_limit_keeps_the_newest_and_a_bad_limit_is_refused(lab):
    driver = driver_for(lab.ipmi.endpoint(0))
    assert [e.id for e in driver.bmc_log(limit=2)] == ["3", "2"]
    for limit in (0, 1001, True, "5"):
        with pytest.raises(BmcError) as caught:
            driver.bmc_log(limit=limit)
        assert caught.value.cause == "bad_request"


def test_an_empty_sel_is_an_empty_log(lab):
    lab.bmc(0).clear_events()
    assert driver_for(lab.ipmi.endpoint(0)).bmc_log() == []


@pytest.mark.skipif(shutil.which("ipmitool") is None, reason="Debian's ipmitool not installed")
def test_ipmitool_reads_the_same_sel(lab):
    endpoint = lab.ipmi.endpoint(0)
    command = ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(endpoint.port)]
    command += ["-U", endpoint.username, "-P", endpoint.password, "sel", "elist"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 3
    assert "Physical Security" in lines[2] and "General Chassis intrusion" in lines[2]


@pytest.mark.django_db
def test_an_ipmi_nodes_log_is_read_shown_and_its_intrusion_alarmed(lab, site, engineer, client):
    node = dual_lab_node(lab, 0, site=site, bmc_protocol="ipmi")
    facts = details.bmc_details_refresh(node.pk)
    assert facts.features["bmc_log"] is True and facts.features["bios"] is False
    assert [e["id"] for e in facts.bmc_log["entries"]] == ["3", "2", "1"]
    assert AuditEvent.objects.filter(action="bmc.intrusion", target_id=str(node.pk)).count() == 1
    client.force_login(engineer)
    page = client.get(reverse("node-detail", args=[node.pk])).content.decode()
    assert 'data-testid="intrusion-badge"' in page
    assert "BIOS settings are not available on this BMC" in page
