"""`NodeConfiguration.cards` follows the configuration's option ROMs through every way it is
written (the campaign dry run groups nodes by it: stale cards would merge two hardware
classes)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from django.db.models import F

from apps.attestation import predict
from apps.attestation.models import (
    FirmwareRelease,
    NodeConfiguration,
    PlatformProfile,
    cards_text,
    option_rom_cards,
)
from apps.attestation.services import configuration_set
from apps.lab.tpm.node import base_configuration
from tests.factories import NodeFactory

X710 = {"pci_path": "0000:3b:00.0", "name": "X710", "digests": [], "ranges": []}
CX6 = {"pci_path": "0000:5e:00.0", "name": "CX6", "digests": [], "ranges": []}

pytestmark = pytest.mark.django_db


@pytest.fixture
def release():
    return FirmwareRelease.objects.create(
        profile=PlatformProfile.objects.create(sku="S"), version="1"
    )


def stored(config: NodeConfiguration) -> list[str]:
    return json.loads(NodeConfiguration.objects.values_list("cards", flat=True).get(pk=config.pk))


def test_cards_are_the_sorted_names_else_the_pci_path():
    unnamed = {"pci_path": "0000:af:00.0", "digests": []}
    assert option_rom_cards([X710, CX6, unnamed, "junk"]) == ("0000:af:00.0", "CX6", "X710")
    assert cards_text({}) == cards_text({"option_roms": None}) == "[]"


def test_the_configuration_service_keeps_the_cards(release):
    node = NodeFactory()
    rom = predict.OptionRom(
        "0000:3b:00.0", digests=({"sha256": b"\x01" * 32},), ranges=((0, 65536),), name="X710"
    )
    config = dataclasses.replace(base_configuration(), option_roms=(rom,))
    row = configuration_set(node=node, release=release, config=config)
    assert stored(row) == ["X710"]
    moved = dataclasses.replace(rom, name="CX6")
    configuration_set(
        node=node, release=release, config=dataclasses.replace(config, option_roms=(rom, moved))
    )
    assert stored(row) == ["CX6", "X710"]


def test_save_update_and_bulk_writes_keep_the_cards(release):
    a, b = NodeFactory(), NodeFactory()
    row = NodeConfiguration.objects.create(node=a, release=release, config={"option_roms": [X710]})
    assert stored(row) == ["X710"]
    row.config["option_roms"].append(CX6)  # changed in place
    row.save(update_fields=["config"])
    assert stored(row) == ["CX6", "X710"]
    NodeConfiguration.objects.filter(pk=row.pk).update(config={"option_roms": [CX6]})
    assert stored(row) == ["CX6"]
    NodeConfiguration.objects.bulk_create([NodeConfiguration(node=b, release=release, config={})])
    other = NodeConfiguration.objects.get(node=b)
    assert stored(other) == []
    row.config, other.config = {}, {"option_roms": [X710]}
    NodeConfiguration.objects.bulk_update([row, other], ["config"])
    assert (stored(row), stored(other)) == ([], ["X710"])
    release.configurations.filter(pk=other.pk).update(config={"option_roms": [X710, CX6]})
    assert stored(other) == ["CX6", "X710"]  # the related manager's queryset too


def test_a_configuration_written_as_an_expression_leaves_no_cards_rather_than_stale_ones(release):
    row = NodeConfiguration.objects.create(node=NodeFactory(), release=release, config={})
    NodeConfiguration.objects.filter(pk=row.pk).update(config=F("config"))
    assert NodeConfiguration.objects.values_list("cards", flat=True).get(pk=row.pk) == ""
