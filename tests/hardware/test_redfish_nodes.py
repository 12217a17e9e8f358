"""Redfish nodes in the console: protocol per node, `auto` probing, endpoints (dual lab, HTTPS)."""

import socket

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.hardware.drivers import driver_for
from apps.hardware.drivers.redfish import transport
from apps.hardware.protocols import bmc_protocol_detect, endpoint_for, needs_probe, node_protocol
from tests.factories import NodeFactory
from tests.hardware.redfish_nodes import dual_lab_node

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab(make_dual_lab):
    lab = make_dual_lab(count=2)
    yield lab
    transport.close_all()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_ipmi_node_gets_its_udp_port_and_no_fingerprint():
    node = NodeFactory(bmc_port=16230, redfish_port=26230, bmc_protocol="ipmi")
    endpoint = endpoint_for(node)
    assert (endpoint.protocol, endpoint.port, endpoint.tls_fingerprint) == ("ipmi", 16230, "")


def test_a_redfish_node_gets_its_https_port_and_the_pinned_fingerprint():
    node = NodeFactory(bmc_port=16230, redfish_port=26230, bmc_protocol="redfish")
    node.bmc_tls_fingerprint = "ab" * 32
    endpoint = endpoint_for(node)
    assert (endpoint.protocol, endpoint.port, endpoint.tls_fingerprint) == (
        "redfish",
        26230,
        "ab" * 32,
    )
    assert endpoint_for(node, protocol="ipmi").port == 16230


def test_an_auto_node_speaks_redfish_only_once_found_and_its_certificate_accepted():
    node = NodeFactory(bmc_protocol="auto")
    assert node_protocol(node) == "ipmi"
    node.bmc_protocol_detected = "redfish"
    assert node_protocol(node) == "ipmi"  # found, but nothing accepted yet: IPMI meanwhile
    node.bmc_tls_fingerprint = "cd" * 32
    assert node_protocol(node) == "redfish"
    node.bmc_protocol_detected = "ipmi"
    assert node_protocol(node) == "ipmi"


def test_probing_an_auto_node_finds_redfish_and_records_the_certificate_untrusted(lab):
    node = dual_lab_node(lab, bmc_protocol="auto")
    assert needs_probe(node, timezone.now())
    assert bmc_protocol_detect(node=node) == "redfish"
    node.refresh_from_db()
    assert node.bmc_protocol_detected == "redfish" and node.bmc_protocol_probed_at is not None
    assert node.bmc_cert_fingerprint == lab.redfish.endpoint(0).fingerprint
    assert node.bmc_tls_fingerprint == ""  # shown, never trusted by the probe
    assert node.bmc_cert_state == "unaccepted"
    assert node.bmc_cert_subject
    assert node.bmc_cert_not_after is not None
    assert not needs_probe(node, timezone.now())
    assert AuditEvent.objects.filter(action="bmc.protocol_detected", target_id=str(node.pk))
    # once accepted, the node's power is read over Redfish
    node.bmc_tls_fingerprint = node.bmc_cert_fingerprint
    assert endpoint_for(node).protocol == "redfish"
    assert driver_for(endpoint_for(node), timeout=30).power_state().state == "on"


def test_probing_an_auto_node_without_redfish_falls_back_to_ipmi(lab):
    node = dual_lab_node(lab, bmc_protocol="auto", redfish_port=free_port())
    assert bmc_protocol_detect(node=node) == "ipmi"
    node.refresh_from_db()
    assert node.bmc_protocol_detected == "ipmi" and node.bmc_cert_fingerprint == ""
    assert driver_for(endpoint_for(node), timeout=30).power_state().state == "on"


def test_the_sweeps_probes_of_many_auto_nodes_record_each_ones_answer(lab):
    from apps.hardware.protocols import bmc_protocols_detect

    found = dual_lab_node(lab, 0, bmc_protocol="auto")
    missing = dual_lab_node(lab, 1, bmc_protocol="auto", redfish_port=free_port())
    bmc_protocols_detect(nodes=[found, missing])
    found.refresh_from_db()
    missing.refresh_from_db()
    assert (found.bmc_protocol_detected, missing.bmc_protocol_detected) == ("redfish", "ipmi")
    assert found.bmc_cert_fingerprint == lab.redfish.endpoint(0).fingerprint
    assert missing.bmc_cert_fingerprint == ""
