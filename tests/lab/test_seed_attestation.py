"""``manage.py seed_attestation`` (the Makefile's demo step) lives with the lab it seeds."""

import io

import pytest
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError

from apps.attestation.models import FirmwareRelease, NodeConfiguration
from apps.lab.tpm.node import LAB_FIRMWARE_VERSIONS, LAB_PROFILE
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


def _seed(*args):
    out = io.StringIO()
    call_command("seed_attestation", *args, stdout=out)
    return out.getvalue()


def test_the_command_is_the_lab_apps():
    assert get_commands()["seed_attestation"] == "apps.lab"


def test_seeds_the_lab_sku_its_releases_and_the_first_nodes_on_the_oldest_release(node):
    later = NodeFactory(site=node.site)
    out = _seed("--nodes", "1")
    assert f"profile {LAB_PROFILE.sku}" in out and "1 node configurations" in out
    releases = FirmwareRelease.objects.filter(profile__sku=LAB_PROFILE.sku)
    assert sorted(r.version for r in releases) == sorted(LAB_FIRMWARE_VERSIONS)
    config = NodeConfiguration.objects.get()
    assert config.node == node and config.release.version == LAB_FIRMWARE_VERSIONS[0]
    assert not NodeConfiguration.objects.filter(node=later).exists()


def test_seeding_twice_changes_nothing(node):
    _seed("--nodes", "5")
    _seed("--nodes", "5")
    assert FirmwareRelease.objects.count() == len(LAB_FIRMWARE_VERSIONS)
    assert NodeConfiguration.objects.count() == 1


def test_a_node_count_out_of_range_is_a_command_error(db):
    with pytest.raises(CommandError, match="between 0 and 5000"):
        _seed("--nodes", "5001")
