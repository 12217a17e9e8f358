"""`BmcFacts.versions_digest` follows the firmware inventory through every way it is written
(the campaign dry run groups nodes by it: a stale digest would merge two hardware classes)."""

from __future__ import annotations

import pytest
from django.db.models import F

from apps.hardware.models import BmcFacts, firmware_versions_digest
from apps.hardware.services import _facts_update, _rows_update
from tests.factories import NodeFactory

OLD = [{"component": "BMC", "version": "2.42"}, {"component": "BIOS", "version": "1.4.0"}]
NEW = [{"component": "BMC", "version": "2.50"}, {"component": "BIOS", "version": "1.5.0"}]

pytestmark = pytest.mark.django_db


def stored(facts: BmcFacts) -> str:
    return BmcFacts.objects.values_list("versions_digest", flat=True).get(pk=facts.pk)


def test_the_digest_is_of_the_versions_not_of_when_they_were_read():
    read = [dict(item, read_at="2026-12-04T10:00:00+00:00", id=None) for item in OLD]
    again = [dict(item, read_at="2026-12-05T10:00:00+00:00") for item in reversed(OLD)]
    assert firmware_versions_digest(read) == firmware_versions_digest(again)
    assert firmware_versions_digest(OLD) != firmware_versions_digest(NEW)
    assert firmware_versions_digest([]) == firmware_versions_digest(None)


def test_create_and_save_keep_the_digest():
    facts = BmcFacts.objects.create(node=NodeFactory(), firmware=OLD)
    assert stored(facts) == firmware_versions_digest(OLD)
    facts.firmware = [dict(item) for item in NEW]
    facts.save(update_fields=["firmware"])
    assert stored(facts) == firmware_versions_digest(NEW)
    facts.firmware[1]["version"] = "1.5.1"  # changed in place, saved whole
    facts.save()
    assert (
        stored(facts) == firmware_versions_digest(facts.firmware) != firmware_versions_digest(NEW)
    )


def test_a_save_of_other_fields_neither_reads_nor_writes_the_inventory(django_assert_num_queries):
    facts = BmcFacts.objects.create(node=NodeFactory(), firmware=OLD)
    partial = BmcFacts.objects.only("pk", "node", "features").get(pk=facts.pk)
    partial.features = {"bios": False}
    with django_assert_num_queries(1):  # the UPDATE only: the deferred inventory not loaded
        partial.save(update_fields=["features"])
    assert stored(facts) == firmware_versions_digest(OLD)


def test_update_or_create_keeps_the_digest():
    node = NodeFactory()
    _facts_update(node, firmware=OLD)  # the hardware service's writer
    assert stored(node.bmc_facts) == firmware_versions_digest(OLD)
    _facts_update(node, firmware=NEW)
    assert stored(BmcFacts.objects.get(node=node)) == firmware_versions_digest(NEW)


def test_queryset_update_keeps_the_digest():
    facts = BmcFacts.objects.create(node=NodeFactory(), firmware=OLD)
    BmcFacts.objects.filter(pk=facts.pk).update(firmware=NEW)
    assert stored(facts) == firmware_versions_digest(NEW)


def test_an_inventory_written_as_an_expression_leaves_no_digest_rather_than_a_stale_one():
    facts = BmcFacts.objects.create(node=NodeFactory(), firmware=OLD)
    BmcFacts.objects.filter(pk=facts.pk).update(firmware=F("firmware"))
    assert stored(facts) == ""  # readers fall back to the JSON


def test_bulk_create_and_bulk_update_keep_the_digest():
    a, b = NodeFactory(), NodeFactory()
    BmcFacts.objects.bulk_create([BmcFacts(node=a, firmware=OLD), BmcFacts(node=b)])
    fa, fb = BmcFacts.objects.get(node=a), BmcFacts.objects.get(node=b)
    assert (stored(fa), stored(fb)) == (firmware_versions_digest(OLD), firmware_versions_digest([]))
    fa.firmware, fb.firmware = NEW, OLD
    BmcFacts.objects.bulk_update([fa, fb], ["firmware"])
    assert (stored(fa), stored(fb)) == (
        firmware_versions_digest(NEW),
        firmware_versions_digest(OLD),
    )


def test_the_sweeps_raw_update_refuses_the_inventory():
    facts = BmcFacts.objects.create(node=NodeFactory(), firmware=OLD)
    facts.firmware = NEW
    with pytest.raises(ValueError, match="through the model"):
        _rows_update(BmcFacts, [facts], ["firmware"])
