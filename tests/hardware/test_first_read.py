"""Inventory, firmware and boot device are read once, by themselves, when a node first answers.

The sweep task asks `details.bmc_details_first_read_request` after each sweep; the reads it
queues are the engineer's "Read inventory" task. Tests run the service against lab BMCs and
catch what it queues (no broker).
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.hardware import details, services, tasks
from apps.hardware import sweep as sweep_module
from apps.hardware.models import BmcFacts
from apps.hardware.sweep import CircuitBreaker
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_breaker(monkeypatch, settings):
    # lab ports are reused between tests: a back-off left by another test must not skip them
    monkeypatch.setattr(sweep_module, "default_breaker", CircuitBreaker(base=60))
    settings.BMC_TIMEOUT = 3.0  # live BMCs get two sends (one in 1-2 s could be lost)


@pytest.fixture
def queued(monkeypatch):
    """The node ids handed to `bmc_details_refresh_task` (instead of a broker)."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.bmc_details_refresh_task, "delay", sent.append)
    return sent


def lab_nodes(lab, site, count):
    return [
        NodeFactory(site=site, name=f"{site.code}-n{i}", bmc_port=lab.port(i)) for i in range(count)
    ]


def test_nodes_that_answer_their_first_poll_get_their_details_read_once(
    lab, site, queued, django_capture_on_commit_callbacks, client, engineer
):
    nodes = lab_nodes(lab, site, 3)
    silent = NodeFactory(site=site, name="never-polled")  # no answer yet: nothing to read
    lab.bmc(1).boot = {"device": "network", "persistent": True, "uefi": True}
    ids = [n.pk for n in [*nodes, silent]]
    services.bmc_sweep_nodes(ids)

    with django_capture_on_commit_callbacks(execute=True):
        claimed = details.bmc_details_first_read_request(node_ids=ids)
    assert claimed == queued == [n.pk for n in nodes]
    # the next sweeps find them claimed: not queued again while the reads wait
    with django_capture_on_commit_callbacks(execute=True):
        assert details.bmc_details_first_read_request(node_ids=ids) == []
    assert len(queued) == 3

    for pk in queued:  # what the worker does with them
        tasks.bmc_details_refresh_task(pk)
    facts = BmcFacts.objects.get(node=nodes[1])
    assert facts.boot_device == {"device": "network", "persistent": True, "uefi": True}
    assert facts.inventory["manufacturer"] == "Heatsite Lab"
    assert not details.nodes_never_read(ids).exclude(pk=silent.pk).exists()
    # read is read: not even after the retry delay
    later = timezone.now() + details.FIRST_READ_RETRY * 2
    assert details.bmc_details_first_read_request(node_ids=ids, now=later) == []

    client.force_login(engineer)
    page = client.get(reverse("node-detail", args=[nodes[1].pk])).content.decode()
    assert "Next boot: <strong>network</strong>" in page and "Not read yet" not in page


def test_a_read_that_never_happened_is_asked_again_after_the_retry_delay(
    lab, site, queued, django_capture_on_commit_callbacks
):
    (node,) = lab_nodes(lab, site, 1)
    services.bmc_sweep_nodes([node.pk])
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        details.bmc_details_first_read_request(node_ids=[node.pk], now=now)
        soon = now + details.FIRST_READ_RETRY - timedelta(seconds=1)
        details.bmc_details_first_read_request(node_ids=[node.pk], now=soon)
        late = now + details.FIRST_READ_RETRY + timedelta(seconds=1)
        details.bmc_details_first_read_request(node_ids=[node.pk], now=late)
    assert queued == [node.pk, node.pk]


def test_a_bmc_without_fru_inventory_counts_as_read(site):
    node = NodeFactory(site=site, reachable=True)
    BmcFacts.objects.create(node=node, features={"inventory": False, "boot_device": True})
    assert not details.nodes_never_read([node.pk]).exists()


def test_a_reachable_node_without_facts_yet_is_claimed_and_a_limit_bounds_each_call(
    site, queued, django_capture_on_commit_callbacks
):
    nodes = [NodeFactory(site=site, reachable=True) for _ in range(3)]
    ids = [n.pk for n in nodes]
    with django_capture_on_commit_callbacks(execute=True):
        assert details.bmc_details_first_read_request(node_ids=ids, limit=2) == ids[:2]
        assert details.bmc_details_first_read_request(node_ids=ids, limit=2) == ids[2:]
    assert queued == ids
    assert BmcFacts.objects.filter(node__in=nodes, details_requested_at__isnull=False).count() == 3


def test_a_queue_that_is_down_loses_nothing_but_time(
    site, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    node = NodeFactory(site=site, reachable=True)

    def down(node_id):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.bmc_details_refresh_task, "delay", down)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert details.bmc_details_first_read_request(node_ids=[node.pk], now=now) == [node.pk]
    assert "could not be queued" in caplog.text
    later = now + details.FIRST_READ_RETRY * 2
    monkeypatch.setattr(tasks.bmc_details_refresh_task, "delay", lambda node_id: None)
    assert details.bmc_details_first_read_request(node_ids=[node.pk], now=later) == [node.pk]


def test_the_sweep_task_asks_for_first_reads(lab, site, queued, django_capture_on_commit_callbacks):
    nodes = lab_nodes(lab, site, 2)
    with django_capture_on_commit_callbacks(execute=True):
        counts = tasks.bmc_sweep_nodes_task([n.pk for n in nodes])
    assert counts["ok"] == 2 and counts["first_reads"] == 2
    assert queued == [n.pk for n in nodes]
