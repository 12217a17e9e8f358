"""A site whose gateway went quiet shows one "gateway offline" alarm (site page and fleet), not
an unreachable node per node; partners never see gateways."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.gateways.models import Gateway, GatewaySite
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


def _gateway(site, *, seconds_ago: float | None):
    contact = None if seconds_ago is None else timezone.now() - timedelta(seconds=seconds_ago)
    gateway = Gateway.objects.create(
        name="lyon-gw",
        box_public_key="x",
        signing_public_key="y",
        last_contact_at=contact,
        version="1.0",
    )
    GatewaySite.objects.create(site=site, gateway=gateway)
    return gateway


def test_an_engineer_sees_the_site_gateway_offline_once_not_each_node(client, engineer, site):
    _gateway(site, seconds_ago=3600)
    for _ in range(3):
        NodeFactory(site=site, reachable=True)
    client.force_login(engineer)
    page = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert page.count('data-testid="gateway-offline"') == 1
    assert "Site gateway offline" in page and "lyon-gw" in page
    fleet = client.get(reverse("fleet")).content.decode()
    assert fleet.count('data-testid="fleet-gateway-offline"') == 1


def test_a_gateway_heard_recently_is_shown_with_its_version(client, engineer, site):
    _gateway(site, seconds_ago=5)
    client.force_login(engineer)
    page = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert 'data-testid="gateway-online"' in page and "version 1.0" in page
    assert "gateway-offline" not in page
    assert 'data-testid="gateway-spool"' not in page  # nothing waiting: nothing said


def test_readings_waiting_on_the_gateway_are_shown_on_the_site_page(client, engineer, site):
    gateway = _gateway(site, seconds_ago=5)
    Gateway.objects.filter(pk=gateway.pk).update(
        spool_depth=120, spool_oldest_at=timezone.now() - timedelta(minutes=20)
    )
    client.force_login(engineer)
    page = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert "120 meter readings waiting to be uploaded" in page
    assert "fleet-gateway-offline" not in client.get(reverse("fleet")).content.decode()


def test_partners_never_see_the_gateway(client, partner, site):
    _gateway(site, seconds_ago=3600)
    client.force_login(partner)
    for url in (reverse("site-detail", args=[site.pk]), reverse("fleet")):
        page = client.get(url).content.decode()
        assert "lyon-gw" not in page and "gateway offline" not in page.lower()
