"""The demo accepts the lab's own Redfish certificates, so its Redfish nodes are polled at once."""

import io

import pytest
from django.core.management import call_command

from apps.audit.models import AuditEvent
from apps.hardware import services
from apps.hardware import sweep as sweep_module
from apps.hardware.drivers.redfish import transport
from apps.hardware.sweep import CircuitBreaker
from apps.lab.redfish.certs import BmcCertificate
from apps.sites.models import Node
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


def accept_all(state_dir) -> str:
    out = io.StringIO()
    call_command("lab_accept_certificates", f"--redfish-state-dir={state_dir}", stdout=out)
    return out.getvalue()


def test_redfish_and_auto_loopback_nodes_get_the_labs_certificates_ipmi_ones_nothing(tmp_path):
    redfish = NodeFactory(name="rf-1", bmc_protocol="redfish")
    auto = NodeFactory(name="auto-1", bmc_protocol="auto")
    ipmi = NodeFactory(name="ipmi-1", bmc_protocol="ipmi")
    remote = NodeFactory(name="remote-1", bmc_protocol="redfish", bmc_host="10.1.2.3")
    assert "2 lab BMC certificate(s) accepted" in accept_all(tmp_path)
    for node in (redfish, auto):
        node.refresh_from_db()
        cert = BmcCertificate.ensure(tmp_path, node.name)  # the file run_lab will serve
        assert node.bmc_tls_fingerprint == cert.fingerprint
        assert node.bmc_cert_state == "accepted" and node.bmc_cert_not_after is not None
    ipmi.refresh_from_db()
    remote.refresh_from_db()
    assert ipmi.bmc_tls_fingerprint == "" and remote.bmc_tls_fingerprint == ""
    events = AuditEvent.objects.filter(action="bmc.certificate_accept")
    assert {(e.actor_name, e.detail["source"]) for e in events} == {("system", "lab")}
    assert events.count() == 2
    assert "0 lab BMC certificate(s) accepted" in accept_all(tmp_path)  # idempotent


def test_the_demos_redfish_node_is_polled_over_https_right_away(
    make_dual_lab, monkeypatch, settings, site
):
    monkeypatch.setattr(sweep_module, "default_breaker", CircuitBreaker(base=60))
    settings.BMC_TIMEOUT = 10.0  # bounds a broken run only
    lab = make_dual_lab(count=1)
    face = lab.redfish.endpoint(0)
    node = NodeFactory(
        site=site,
        name=lab.bmc(0).name,
        bmc_protocol="redfish",
        bmc_port=lab.ipmi.port(0),
        redfish_port=face.port,
        bmc_username=face.username,
        bmc_password=face.password,
    )
    accept_all(lab.state_dir)
    try:
        assert services.bmc_sweep_nodes([node.pk])["ok"] == 1
    finally:
        transport.close_all()
    node.refresh_from_db()
    assert (node.power_state, node.reachable) == ("on", True)
    assert Node.objects.get(pk=node.pk).bmc_cert_state == "accepted"
