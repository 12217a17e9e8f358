"""One sweep polls IPMI, Redfish and auto nodes together, with the same breaker and pushes."""

import socket

import pytest

from apps.hardware import services
from apps.hardware.drivers.redfish import transport
from apps.sites.models import Node
from tests.hardware.redfish_nodes import dual_lab_node
from tests.hardware.test_poll_sweep import Listener

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_breaker")]


@pytest.fixture
def lab(make_dual_lab):
    lab = make_dual_lab(count=3)
    yield lab
    transport.close_all()


def lab_node(lab, site, index, protocol, accepted=False, **fields) -> Node:
    name = f"{site.code}-{protocol}{index}"
    return dual_lab_node(
        lab, index, accepted=accepted, site=site, name=name, bmc_protocol=protocol, **fields
    )


def test_a_mixed_fleet_is_polled_in_one_sweep_and_changes_are_pushed(
    lab, site, django_capture_on_commit_callbacks
):
    ipmi = lab_node(lab, site, 0, "ipmi")
    redfish = lab_node(lab, site, 1, "redfish", accepted=True)
    auto = lab_node(lab, site, 2, "auto")
    lab.bmc(1).set_power("off")
    listener = Listener(f"site.{site.pk}.hardware")
    with django_capture_on_commit_callbacks(execute=True):
        counts = services.bmc_sweep_nodes([ipmi.pk, redfish.pk, auto.pk])
    assert counts["ok"] == 3
    states = dict(Node.objects.values_list("name", "power_state"))
    assert (states[ipmi.name], states[redfish.name], states[auto.name]) == ("on", "off", "on")
    auto.refresh_from_db()
    # the probe found Redfish; until its certificate is accepted, the node is polled over IPMI
    assert (auto.bmc_protocol_detected, auto.bmc_cert_state) == ("redfish", "unaccepted")
    pushed = {e["node_id"]: e for e in listener.drain() if e["type"] == "node.state"}
    assert pushed[redfish.pk]["power_state"] == "off"
    assert pushed[redfish.pk]["reachable"] is True


def test_a_dead_redfish_bmc_is_backed_off_by_the_same_breaker(lab, site):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    node = lab_node(lab, site, 0, "redfish", accepted=True, redfish_port=dead_port)
    first = services.bmc_sweep_nodes([node.pk])
    assert first["failed"] == 1
    node.refresh_from_db()
    assert node.reachable is False
    second = services.bmc_sweep_nodes([node.pk])
    assert second["skipped"] == 1
