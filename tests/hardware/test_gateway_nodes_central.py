"""A site gateway's node: the central calls that have no gateway path yet (BIOS changes, BMC
password rotation, the details read, first reads, log checks, probing, the state read after a
power action) never build a driver here; they are refused or skipped with the reason."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import translation
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.gateways.models import Gateway, GatewaySite
from apps.hardware import bios, certificates, details, protocols, reach, rotation, services
from apps.hardware.models import BmcFacts
from apps.sites.models import Node
from tests.factories import NodeFactory, SiteFactory

pytestmark = pytest.mark.django_db

REASON = "Not available through a site gateway yet"
CENTRAL = (
    (bios, "driver_for"),
    (rotation, "driver_for"),
    (details, "driver_for"),
    (services, "driver_for"),
    (protocols, "probe"),
    (certificates, "fetch_certificate"),
)


class ContactedBmc(AssertionError):
    pass


@pytest.fixture
def no_central_bmc(monkeypatch):
    """Every way this process reaches a BMC fails (and is noted: a caller may swallow it)."""
    contacts: list[str] = []

    def fail(*args, **kwargs):
        contacts.append(repr(args))
        raise ContactedBmc(f"a BMC was contacted centrally: {args}")

    for module, name in CENTRAL:
        monkeypatch.setattr(module, name, fail)
    return contacts


@pytest.fixture
def gw_node(site):
    gateway = Gateway.objects.create(name="lyon-gw", box_public_key="x", signing_public_key="y")
    GatewaySite.objects.create(site=site, gateway=gateway)
    node = NodeFactory(site=site, reachable=True, bmc_protocol=Node.BmcProtocol.AUTO)
    BmcFacts.objects.create(node=node, features={"bmc_log": True})
    return node


def _bios(node, engineer):
    with pytest.raises(bios.BiosChangeRefused) as refused:
        bios.bios_change_request(actor=engineer, node=node, changes={"BootMode": "Uefi"})
    assert refused.value.cause == reach.CAUSE and refused.value.refused
    return refused.value.message


def _rotation_request(node, engineer):
    with pytest.raises(rotation.RotationFailed) as refused:
        rotation.bmc_password_rotate_request(actor=engineer, node=node, source="api")
    return str(refused.value)


def _rotation_run(node, engineer):
    result = rotation.bmc_password_rotate(node=node, actor=None)
    node.refresh_from_db()
    assert result.outcome == "failed" and not node.bmc_password_pending_encrypted
    assert node.bmc_rotation_state == Node.BmcRotationState.NONE  # not claimed, not flagged
    return result.message


def _details_read(node, engineer):
    facts = details.bmc_details_refresh(node.pk)
    assert "inventory" not in facts.features
    return reach.gateway_refusal(node, "details")


def _first_reads(node, engineer):
    assert details.bmc_details_first_read_request(node_ids=[node.pk]) == []
    assert not BmcFacts.objects.get(node=node).details_requested_at
    return reach.gateway_refusal(node, "details")


def _log_check(node, engineer):
    assert details.bmc_logs_check(node_ids=[node.pk])["checked"] == 0
    return reach.gateway_refusal(node, "details")


def _probe(node, engineer):
    assert protocols.bmc_protocol_detect(node=node) == protocols.node_protocol(node)
    assert Node.objects.get(pk=node.pk).bmc_protocol_probed_at is None
    return reach.gateway_refusal(node, "details")


def _state_after(node, engineer):
    assert services._state_after_safe(node) is None
    return reach.gateway_refusal(node, "details")


ENTRY_POINTS = [
    _bios,
    _rotation_request,
    _rotation_run,
    _details_read,
    _first_reads,
    _log_check,
    _probe,
    _state_after,
]


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda f: f.__name__.strip("_"))
def test_a_gateway_node_is_never_reached_centrally(entry, gw_node, engineer, no_central_bmc):
    reason = entry(gw_node, engineer)
    assert no_central_bmc == []
    assert reason.startswith(REASON) and "lyon-gw" in reason and gw_node.name in reason


def test_the_refusals_are_audited(gw_node, engineer, no_central_bmc):
    _bios(gw_node, engineer)
    _rotation_request(gw_node, engineer)
    refused = AuditEvent.objects.filter(result=AuditEvent.Result.REFUSED)
    assert {e.action for e in refused} == {"bmc.bios_change", rotation.ACTION}
    assert all(e.detail["reason"].startswith(REASON) for e in refused)


def test_the_api_says_why_with_a_4xx(gw_node, engineer, no_central_bmc):
    api = APIClient()
    api.force_authenticate(engineer)
    base = f"/api/v1/nodes/{gw_node.pk}"
    answers = [
        api.patch(f"{base}/bios/", {"attributes": {"BootMode": "Uefi"}}, format="json"),
        api.post(f"{base}/bmc-password/rotate/"),
        api.post(f"{base}/refresh/"),
    ]
    assert [a.status_code for a in answers] == [409, 400, 409]
    assert all(a.json()["detail"].startswith(REASON) for a in answers)


def test_the_pages_say_why(client, gw_node, engineer, no_central_bmc):
    client.force_login(engineer)
    bios_page = client.post(
        reverse("node-bios-change", args=[gw_node.pk]), {"changes": '{"BootMode": "Uefi"}'}
    )
    assert bios_page.status_code == 409 and REASON in bios_page.content.decode()
    for name in ("node-refresh", "node-bmc-password-rotate"):
        response = client.post(reverse(name, args=[gw_node.pk]))
        assert response.status_code == 302
        assert [str(m) for m in get_messages(response.wsgi_request)][-1].startswith(REASON)
    node_page = client.get(reverse("node-detail", args=[gw_node.pk])).content.decode()
    assert 'data-testid="details-not-read"' in node_page and "lyon-gw" in node_page


def test_the_node_page_offers_no_button_that_would_be_refused(client, gw_node, engineer, site):
    direct = NodeFactory(site=SiteFactory(), reachable=True)
    client.force_login(engineer)
    pages = {
        node: client.get(reverse("node-detail", args=[node.pk])).content.decode()
        for node in (gw_node, direct)
    }
    for marker in ("Read inventory", 'data-testid="rotate-bmc-password"'):
        assert marker not in pages[gw_node] and marker in pages[direct], marker
    assert 'data-testid="bmc-password-refused"' in pages[gw_node]
    assert "BMC password rotation" in pages[gw_node]  # the reason, in its place
    fragment = client.get(reverse("node-bmc-password", args=[gw_node.pk])).content.decode()
    assert 'data-testid="bmc-password-refused"' in fragment
    assert 'data-testid="rotate-bmc-password"' not in fragment


def test_the_reason_is_translated(gw_node):
    with translation.override("fr"):
        assert reach.gateway_refusal(gw_node, "rotation").startswith(
            "Pas encore disponible par une passerelle de site : la rotation du mot de passe"
        )


def test_a_revoked_gateway_leaves_the_node_direct(gw_node, monkeypatch):
    Gateway.objects.update(status=Gateway.Status.REVOKED)
    read: list[str] = []

    def driver_for(endpoint, **options):
        read.append(endpoint.host)
        raise ContactedBmc

    monkeypatch.setattr(details, "driver_for", driver_for)
    monkeypatch.setattr(protocols, "probe", lambda *a, **k: None)
    assert reach.gateway_refusal(gw_node, "bios") == ""
    with pytest.raises(ContactedBmc):
        details.bmc_details_refresh(gw_node.pk)
    assert read == [gw_node.bmc_host]
    assert details.bmc_details_first_read_request(node_ids=[gw_node.pk]) == [gw_node.pk]
