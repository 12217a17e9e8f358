"""`seed_demo` seeds a mixed fleet: IPMI-only, Redfish-only and both, at the lab's ports."""

import pytest
from django.core.management import call_command

from apps.sites.models import Node, Site


@pytest.mark.django_db
def test_the_demo_fleet_mixes_protocols_per_site_at_the_labs_redfish_ports():
    call_command("seed_demo", "--sites", "6", "--nodes-per-site", "2")
    per_site = {
        site.code: set(site.nodes.values_list("bmc_protocol", flat=True))
        for site in Site.objects.all()
    }
    assert all(len(protocols) == 1 for protocols in per_site.values())
    mix = sorted(p for protocols in per_site.values() for p in protocols)
    assert mix == ["auto", "auto", "ipmi", "ipmi", "redfish", "redfish"]
    for node in Node.objects.all():
        assert node.redfish_port == node.bmc_port + 10000
        assert node.bmc_tls_fingerprint == ""  # accepting is not the seed's business
