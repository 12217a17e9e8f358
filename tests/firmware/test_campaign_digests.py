"""The dry run groups nodes by the stored cards and versions digest: a node whose inventory or
cards are rewritten, by whichever writer, leaves its old hardware class."""

from __future__ import annotations

import pytest

from apps.attestation.models import FirmwareRelease, NodeConfiguration
from apps.firmware import campaign_inputs
from apps.firmware.campaign_services import campaign_preview
from apps.firmware.campaign_spec import spec_load
from apps.hardware.models import BmcFacts
from tests.factories import SiteFactory
from tests.firmware.campaign_kit import NEW, SKU, add_node, make_bundle
from tests.firmware.test_campaign_reference import ROMS, ROMS_2, reference_inputs, reference_plan

OLDER = [{"component": "BMC", "version": "2.42"}, {"component": "BIOS", "version": "1.3.2"}]

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_class():
    """Six nodes of one site alike: same versions, same cards, same prediction."""
    bundle = make_bundle()
    site = SiteFactory(code="dg-1")
    release = FirmwareRelease.objects.create(profile=bundle.profile, version="1.4.0")
    nodes = [add_node(bundle, site, f"dg-{i}") for i in range(6)]
    for node in nodes:
        NodeConfiguration.objects.create(node=node, release=release, config={"option_roms": ROMS})
    spec = {"bundle": {"sku": SKU, "version": bundle.version}, "targets": {"sites": ["dg-1"]}}
    return {"bundle": bundle, "nodes": nodes, "spec": spec}


def classes(spec) -> list[tuple[int, str]]:
    _, plan = campaign_preview(spec=spec)
    return sorted((c.nodes, c.label) for c in plan.classes)


def test_nodes_whose_inventory_or_cards_are_rewritten_leave_their_class(one_class):
    spec, nodes = one_class["spec"], one_class["nodes"]
    assert [n for n, _ in classes(spec)] == [6]
    BmcFacts.objects.filter(node=nodes[0]).update(firmware=OLDER)  # queryset update
    facts = BmcFacts.objects.get(node=nodes[1])
    facts.firmware = [dict(item, read_at="2026-12-04T12:00:00+00:00") for item in OLDER]
    facts.save(update_fields=["firmware"])  # same versions as nodes[0], read at another time
    NodeConfiguration.objects.filter(node=nodes[2]).update(config={"option_roms": ROMS_2})
    config = NodeConfiguration.objects.get(node=nodes[3])
    config.config = {"option_roms": []}
    config.save()
    found = classes(spec)
    assert [n for n, _ in found] == [1, 1, 2, 2]
    labels = " | ".join(label for _, label in found)
    assert "bios 1.3.2" in labels and "CX6+X710" in labels and "no option-ROM cards" in labels
    _, plan = campaign_preview(spec=spec)
    checked = spec_load(spec)
    expected = reference_plan(
        reference_inputs(one_class["bundle"], checked.targets), checked.strategy
    )
    assert plan.as_dict() == expected.as_dict()


def test_versions_are_read_from_another_node_when_the_first_changed_since_the_read(
    one_class, monkeypatch
):
    spec, nodes = one_class["spec"], one_class["nodes"]
    BmcFacts.objects.filter(node__in=nodes[3:]).update(firmware=NEW)  # already up to date
    fill = campaign_inputs._versions_fill

    def changed_in_between(pending, using):
        for node_id, _ in pending.values():  # every node the read noted, re-read since
            BmcFacts.objects.filter(node_id=node_id).update(firmware=OLDER)
        fill(pending, using)

    monkeypatch.setattr(campaign_inputs, "_versions_fill", changed_in_between)
    _, plan = campaign_preview(spec=spec)
    # as the main read saw them: three on the old versions, three up to date
    assert plan.eligible == 3
    assert {e.code for e in plan.excluded} == {"up_to_date"}
    assert [c.nodes for c in plan.classes] == [3]
    assert "bios 1.4.0" in plan.classes[0].label
    assert BmcFacts.objects.filter(firmware=OLDER).count() == 2  # one of each digest re-read
