"""First contact with a Redfish BMC, its certificate accepted by an engineer, a changed one
refused and flagged; the sweep and the details read over Redfish (dual lab, real HTTPS)."""

from unittest import mock

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.hardware import details, services
from apps.hardware.drivers.redfish import transport
from apps.hardware.models import BmcFacts, NodeTelemetry
from apps.sites.models import Node
from tests.factories import NodeFactory
from tests.hardware.redfish_nodes import dual_lab_node

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_breaker")]


@pytest.fixture
def lab(make_dual_lab):
    lab = make_dual_lab(count=2)
    yield lab
    transport.close_all()


def redfish_node(lab, site, index=0, **fields) -> Node:
    return dual_lab_node(
        lab, index, site=site, name=f"{site.code}-rf{index}", bmc_protocol="redfish", **fields
    )


def sweep(*nodes):
    return services.bmc_sweep_nodes([n.pk for n in nodes])


def accept(client, node, fingerprint):
    return client.post(
        reverse("node-bmc-certificate-accept", args=[node.pk]), {"fingerprint": fingerprint}
    )


def test_first_contact_records_the_certificate_and_the_page_offers_to_accept_it(
    lab, site, client, engineer
):
    node = redfish_node(lab, site)
    counts = sweep(node)
    assert counts["failed"] == 1
    node.refresh_from_db()
    expected = lab.redfish.endpoint(0).fingerprint
    assert (node.bmc_cert_state, node.bmc_cert_fingerprint) == ("unaccepted", expected)
    assert node.bmc_tls_fingerprint == "" and node.reachable is None
    assert BmcFacts.objects.get(node=node).last_error_cause == "certificate_unknown"
    assert AuditEvent.objects.filter(action="bmc.certificate_presented", target_id=str(node.pk))
    client.force_login(engineer)
    html = client.get(reverse("node-detail", args=[node.pk])).content.decode()
    assert "BMC certificate not yet accepted" in html
    assert expected[:2].upper() + ":" + expected[2:4].upper() in html  # shown with colons
    assert node.bmc_cert_subject in html and "valid until" in html
    assert 'data-testid="accept-certificate"' in html


def test_an_accepted_certificate_lets_the_sweep_poll_power_draw_and_temperatures(
    lab, site, client, engineer
):
    node = redfish_node(lab, site)
    sweep(node)
    client.force_login(engineer)
    response = accept(client, node, lab.redfish.endpoint(0).fingerprint)
    assert response.status_code == 302
    node.refresh_from_db()
    assert node.bmc_tls_fingerprint == lab.redfish.endpoint(0).fingerprint
    event = AuditEvent.objects.get(action="bmc.certificate_accept", target_id=str(node.pk))
    assert (event.actor, event.result) == (engineer, AuditEvent.Result.OK)
    assert event.detail["fingerprint"] == node.bmc_tls_fingerprint

    counts = sweep(node)
    assert counts["ok"] == 1
    node.refresh_from_db()
    assert (node.power_state, node.reachable) == ("on", True)
    assert node.power_w is not None and node.power_w > 0
    sample = NodeTelemetry.objects.get(node=node)
    assert sample.cpu_temp_c is not None and sample.water_in_c is not None
    facts = BmcFacts.objects.get(node=node)
    assert facts.last_error_cause == "" and facts.sensors
    html = client.get(reverse("node-detail", args=[node.pk])).content.decode()
    assert "BMC certificate accepted" in html


def test_a_power_off_over_ipmi_is_seen_by_the_redfish_sweep(lab, site):
    node = redfish_node(lab, site)
    Node.objects.filter(pk=node.pk).update(bmc_tls_fingerprint=lab.redfish.endpoint(0).fingerprint)
    lab.bmc(0).set_power("off")
    sweep(node)
    node.refresh_from_db()
    assert (node.power_state, node.power_w) == ("off", 0.0)


def test_a_changed_certificate_is_refused_recorded_flagged_and_audited_once(
    lab, site, client, engineer
):
    old = lab.redfish.endpoint(0).fingerprint
    node = redfish_node(lab, site)
    Node.objects.filter(pk=node.pk).update(bmc_tls_fingerprint=old, bmc_cert_fingerprint=old)
    sweep(node)
    new = lab.redfish.renew_certificate(0)
    assert new != old
    transport.close_all()  # a real BMC restarts its web server on renewal: new handshakes
    counts = sweep(node)
    assert counts["failed"] == 1
    node.refresh_from_db()
    assert node.bmc_tls_fingerprint == old  # never silently trusted
    assert (node.bmc_cert_state, node.bmc_cert_fingerprint) == ("changed", new)
    assert BmcFacts.objects.get(node=node).last_error_cause == "certificate_changed"
    Node.objects.filter(pk=node.pk).update(bmc_cert_seen_at=None)  # due again
    sweep(node)
    events = AuditEvent.objects.filter(action="bmc.certificate_changed", target_id=str(node.pk))
    assert [e.result for e in events] == [AuditEvent.Result.REFUSED]  # once per certificate
    client.force_login(engineer)
    html = client.get(reverse("node-detail", args=[node.pk])).content.decode()
    assert "BMC certificate changed!" in html and "alert-danger" in html
    site_html = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert 'data-testid="certificate-changed"' in site_html
    fleet_html = client.get(reverse("fleet")).content.decode()
    assert 'data-testid="certificate-changed"' in fleet_html
    # the engineer who knows why (a renewed certificate) accepts the new one
    assert accept(client, node, new).status_code == 302
    node.refresh_from_db()
    assert node.bmc_cert_state == "accepted" and node.bmc_tls_fingerprint == new
    assert sweep(node)["ok"] == 1


def test_the_api_refuses_to_accept_another_certificate_than_the_one_shown(lab, site, engineer):
    node = redfish_node(lab, site)
    api = APIClient()
    api.force_authenticate(engineer)
    url = f"/api/v1/nodes/{node.pk}/bmc-certificate/accept/"
    nothing_seen = api.post(url, {}, format="json")
    assert nothing_seen.status_code == 409
    sweep(node)
    assert api.post(url, {"fingerprint": "zz"}, format="json").status_code == 400
    other = api.post(url, {"fingerprint": "ab" * 32}, format="json")
    assert other.status_code == 409 and "not the one you were shown" in other.json()["detail"]
    node.refresh_from_db()
    assert node.bmc_tls_fingerprint == ""
    refused = AuditEvent.objects.filter(
        action="bmc.certificate_accept", result=AuditEvent.Result.REFUSED
    )
    assert refused.count() == 2
    shown = lab.redfish.endpoint(0).fingerprint
    colons = ":".join(shown[i : i + 2] for i in range(0, 64, 2)).upper()
    accepted = api.post(url, {"fingerprint": colons}, format="json")
    assert accepted.status_code == 200
    assert accepted.json()["state"] == "accepted" and accepted.json()["accepted"] == shown


def test_a_details_read_surfaces_the_certificate_refusal_not_missing_features(lab, site):
    node = redfish_node(lab, site)
    facts = details.bmc_details_refresh(node.pk)
    assert facts.last_error_cause == "certificate_unknown"
    assert "inventory" not in facts.features and "firmware" not in facts.features
    node.refresh_from_db()
    assert node.bmc_cert_state == "unaccepted"


def test_the_firmware_api_lists_redfish_components_after_a_read(lab, site, engineer):
    node = redfish_node(lab, site)
    Node.objects.filter(pk=node.pk).update(bmc_tls_fingerprint=lab.redfish.endpoint(0).fingerprint)
    details.bmc_details_refresh(node.pk)
    api = APIClient()
    api.force_authenticate(engineer)
    body = api.get(f"/api/v1/nodes/{node.pk}/firmware/").json()
    assert body["protocol"] == "redfish" and body["available"] is True
    assert len(body["components"]) >= 2
    first = body["components"][0]
    assert set(first) == {"id", "name", "version", "updateable", "read_at"}
    assert first["id"] and first["version"] and first["read_at"]
    assert any(c["updateable"] is True for c in body["components"])


def test_the_firmware_api_of_a_node_never_read_is_empty_and_says_so(site, engineer):
    node = NodeFactory(site=site)
    api = APIClient()
    api.force_authenticate(engineer)
    body = api.get(f"/api/v1/nodes/{node.pk}/firmware/").json()
    assert body == {"node": node.pk, "protocol": "ipmi", "available": None, "components": []}


def test_the_refresh_api_queues_the_details_read(
    site, engineer, django_capture_on_commit_callbacks
):
    node = NodeFactory(site=site, bmc_protocol="redfish")
    api = APIClient()
    api.force_authenticate(engineer)
    with (
        mock.patch("apps.hardware.tasks.bmc_details_refresh_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = api.post(f"/api/v1/nodes/{node.pk}/refresh/")
    assert response.status_code == 202 and response.json() == {"node": node.pk, "status": "queued"}
    delay.assert_called_once_with(node.pk)
