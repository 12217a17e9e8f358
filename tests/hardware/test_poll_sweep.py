"""The BMC poller (`bmc_sweep_nodes`) and the details read (`bmc_details_refresh`) on lab BMCs."""

import asyncio
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.hardware import details, services
from apps.hardware import sweep as sweep_module
from apps.hardware.models import BmcFacts, NodeTelemetry
from apps.hardware.sweep import CircuitBreaker, sweep
from apps.lab.bmc import node as lab_node
from apps.sites.models import Node
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_breaker(monkeypatch, settings):
    # lab ports are reused between tests: a back-off left by another test must not skip them
    monkeypatch.setattr(sweep_module, "default_breaker", CircuitBreaker(base=60))
    # What a dead BMC costs; the live ones answer in milliseconds, and get two sends in 3 s
    # (one in 1 s: a busy machine could lose it).
    settings.BMC_TIMEOUT = 3.0
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def nodes_for(lab, site, count=None):
    return [
        NodeFactory(site=site, name=f"{site.code}-n{i}", bmc_port=lab.port(i))
        for i in range(count or lab.count)
    ]


class Listener:
    """A channel in a group of the in-memory channel layer, read without blocking."""

    def __init__(self, group: str):
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(group, self.channel)

    def drain(self) -> list[dict]:
        """The events sent so far (broadcasts are sent synchronously on commit)."""
        events = []
        # Only read what is queued: awaiting an empty queue would tie it to this call's
        # event loop, and every async_to_sync call runs its own.
        while not self.layer.channels.get(self.channel, asyncio.Queue()).empty():
            events.append(async_to_sync(self.layer.receive)(self.channel)["event"])
        return events


def test_sweep_stores_state_reachability_telemetry_and_sensors(
    lab, site, django_capture_on_commit_callbacks
):
    lab.bmc(2).set_power("off")
    nodes = nodes_for(lab, site)
    with django_capture_on_commit_callbacks(execute=True):
        counts = services.bmc_sweep_nodes([n.pk for n in nodes])
    assert counts == {"polled": 4, "ok": 4, "failed": 0, "skipped": 0}

    stored = {n.pk: n for n in Node.objects.filter(site=site)}
    assert [stored[n.pk].power_state for n in nodes] == ["on", "on", "off", "on"]
    assert all(stored[n.pk].reachable and stored[n.pk].last_seen for n in nodes)
    assert stored[nodes[0].pk].power_w == pytest.approx(300, abs=5)  # 500 W nominal x 0.6 load
    assert stored[nodes[2].pk].power_w == 0.0

    sample = NodeTelemetry.objects.get(node=nodes[0])
    assert sample.power_state == "on"
    assert sample.water_in_c == pytest.approx(40, abs=1)
    assert sample.water_in_c < sample.water_out_c < sample.cpu_temp_c
    assert NodeTelemetry.objects.get(node=nodes[2]).power_w == 0.0

    facts = BmcFacts.objects.get(node=nodes[0])
    names = {s["name"]: s for s in facts.sensors}
    assert {"CPU1 Temp", "Water Inlet", "Water Outlet", "Fan1", "System Power"} <= set(names)
    assert names["Fan1"]["kind"] == "fan" and names["Fan1"]["health"] == "ok"
    assert facts.features["dcmi"] is True
    off_sensors = {s["name"]: s for s in BmcFacts.objects.get(node=nodes[2]).sensors}
    assert off_sensors["CPU1 Temp"]["value"] is None  # host sensors have no reading when off


def test_a_second_sweep_adds_history_and_keeps_one_facts_row(lab, site):
    nodes = nodes_for(lab, site, 2)
    services.bmc_sweep_nodes([n.pk for n in nodes])
    services.bmc_sweep_nodes([n.pk for n in nodes])
    assert NodeTelemetry.objects.filter(node=nodes[0]).count() == 2
    assert BmcFacts.objects.filter(node__in=nodes).count() == 2


def test_state_changes_are_broadcast_to_the_sites_hardware_group(
    lab, site, django_capture_on_commit_callbacks
):
    nodes = nodes_for(lab, site, 2)
    listener = Listener(f"site.{site.pk}.hardware")
    heat = Listener(f"site.{site.pk}.heat")
    with django_capture_on_commit_callbacks(execute=True):
        services.bmc_sweep_nodes([n.pk for n in nodes])
    first = listener.drain()
    assert sorted(e["node_id"] for e in first) == sorted(n.pk for n in nodes)
    assert {(e["type"], e["power_state"], e["reachable"]) for e in first} == {
        ("node.state", "on", True)
    }

    lab.bmc(1).set_power("off")
    with django_capture_on_commit_callbacks(execute=True):
        services.bmc_sweep_nodes([n.pk for n in nodes])
    second = listener.drain()
    # only the node that changed is pushed again
    assert [(e["node_id"], e["power_state"], e["power_w"]) for e in second] == [
        (nodes[1].pk, "off", 0.0)
    ]
    assert heat.drain() == []


def test_a_dead_bmc_does_not_hold_up_the_others_and_is_backed_off(make_lab, site):
    lab = make_lab(count=9)
    lab.bmc(4).faults.unreachable = True
    nodes = nodes_for(lab, site)
    started = time.monotonic()
    counts = services.bmc_sweep_nodes([n.pk for n in nodes])
    first_sweep = time.monotonic() - started
    assert counts == {"polled": 9, "ok": 8, "failed": 1, "skipped": 0}
    dead = Node.objects.get(pk=nodes[4].pk)
    assert dead.reachable is False
    facts = BmcFacts.objects.get(node=dead)
    assert facts.last_error_cause == "unreachable"
    assert facts.backoff_until is not None
    assert Node.objects.filter(site=site, reachable=True).count() == 8
    # one dead BMC costs about one timeout (3 s), never one per node (27 s)
    assert first_sweep < 20

    requests = sum(lab.bmc(4).requests.values())
    counts = services.bmc_sweep_nodes([n.pk for n in nodes])
    assert counts == {"polled": 9, "ok": 8, "failed": 0, "skipped": 1}
    assert sum(lab.bmc(4).requests.values()) == requests
    assert NodeTelemetry.objects.filter(node=dead).count() == 0
    assert NodeTelemetry.objects.filter(node__site=site).count() == 16


def test_a_bmc_that_comes_back_is_reachable_again_and_its_error_cleared(lab, site, monkeypatch):
    now = [time.time()]  # the breaker's clock, moved by the test: no waiting on the machine
    monkeypatch.setattr(
        sweep_module, "default_breaker", CircuitBreaker(base=10, clock=lambda: now[0])
    )
    nodes = nodes_for(lab, site, 1)
    lab.bmc(0).faults.unreachable = True
    services.bmc_sweep_nodes([nodes[0].pk])
    assert Node.objects.get(pk=nodes[0].pk).reachable is False
    lab.bmc(0).faults.unreachable = False
    assert services.bmc_sweep_nodes([nodes[0].pk])["skipped"] == 1  # still backed off
    assert Node.objects.get(pk=nodes[0].pk).reachable is False
    now[0] += 10.5  # the back-off expires
    services.bmc_sweep_nodes([nodes[0].pk])
    assert Node.objects.get(pk=nodes[0].pk).reachable is True
    facts = BmcFacts.objects.get(node=nodes[0])
    assert (facts.last_error, facts.backoff_until) == ("", None)


def test_wrong_credentials_are_recorded_without_marking_the_bmc_unreachable(lab, site):
    node = NodeFactory(site=site, bmc_port=lab.port(0), bmc_password="nope")
    counts = services.bmc_sweep_nodes([node.pk])
    assert counts["failed"] == 1
    node.refresh_from_db()
    assert node.reachable is None
    assert BmcFacts.objects.get(node=node).last_error_cause == "bad_credentials"


def test_nodes_without_a_bmc_are_not_polled(lab, site):
    node = NodeFactory(site=site, bmc_host="")
    assert services.bmc_sweep_nodes([node.pk])["polled"] == 0


def test_concurrent_sweeps_share_one_session_per_bmc(make_lab):
    lab = make_lab(count=6)
    breaker = CircuitBreaker()
    results, errors = [], []

    def one_sweep():
        try:
            results.append(sweep(lab.endpoints(), max_concurrency=3, breaker=breaker))
        except Exception as exc:  # reported below, with the thread's error
            errors.append(exc)

    threads = [threading.Thread(target=one_sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == 4
    assert all(r.ok and r.power_state == "on" for sweep_results in results for r in sweep_results)
    # the concurrent logins collapsed into one cached session per BMC
    assert [len(lab.bmc(i).sessions) for i in range(6)] == [1] * 6


def test_no_dcmi_marks_the_feature_unavailable_and_takes_power_from_the_sensors(lab, site):
    lab.bmc(1).faults.no_dcmi = True
    nodes = nodes_for(lab, site, 2)
    services.bmc_sweep_nodes([n.pk for n in nodes])
    node = Node.objects.get(pk=nodes[1].pk)
    assert node.power_w == pytest.approx(300, abs=5)  # the "System Power" sensor
    assert BmcFacts.objects.get(node=node).features["dcmi"] is False
    assert BmcFacts.objects.get(node=nodes[0]).features["dcmi"] is True


def test_details_refresh_reads_inventory_firmware_and_boot_device(lab, site):
    node = nodes_for(lab, site, 1)[0]
    lab.bmc(0).boot = {"device": "disk", "persistent": True, "uefi": True}
    facts = details.bmc_details_refresh(node.pk)
    assert {k: facts.features[k] for k in ("inventory", "firmware", "boot_device", "dcmi")} == {
        "inventory": True,
        "firmware": True,
        "boot_device": True,
        "dcmi": True,
    }
    assert facts.features["bios"] is False and facts.bios == {}  # IPMI has no BIOS standard
    assert facts.inventory["manufacturer"] == "Heatsite Lab"
    assert facts.inventory["serial"] == "HS000000"
    firmware = {f["component"]: f["version"] for f in facts.firmware}
    assert firmware["BMC Version"] == "2.41"
    assert facts.boot_device == {"device": "disk", "persistent": True, "uefi": True}


def test_details_refresh_degrades_per_feature(lab, site, monkeypatch):
    lab.bmc(0).faults.no_dcmi = True
    lab.bmc(0).faults.fru_read_cap = 16
    node = nodes_for(lab, site, 1)[0]
    facts = details.bmc_details_refresh(node.pk)
    # a capped FRU read is read in small pieces; no DCMI is only a missing feature
    assert facts.features["inventory"] is True
    assert facts.inventory["product"] == "HX-500 water-cooled node"
    assert facts.features["dcmi"] is False

    # a BMC that refuses FRU reads (0xC1): inventory unavailable, the rest still stored
    monkeypatch.delitem(lab_node._HANDLERS, (0x0A, 0x10))
    monkeypatch.delitem(lab_node._HANDLERS, (0x0A, 0x11))
    BmcFacts.objects.filter(node=node).update(inventory={})
    facts = details.bmc_details_refresh(node.pk)
    assert facts.features["inventory"] is False
    assert facts.inventory == {}
    assert facts.features["firmware"] is True and facts.firmware
    assert facts.features["boot_device"] is True


def test_details_refresh_of_an_unreachable_bmc_raises_the_transient_error(lab, site):
    from apps.hardware.drivers import BmcError

    lab.bmc(0).faults.unreachable = True
    node = nodes_for(lab, site, 1)[0]
    with pytest.raises(BmcError) as caught:
        details.bmc_details_refresh(node.pk)
    assert (caught.value.cause, caught.value.transient) == ("unreachable", True)
    assert not BmcFacts.objects.filter(node=node).exists()


def test_a_failed_poll_writes_only_its_error_and_keeps_what_was_read_before(make_lab, site):
    lab = make_lab(count=2)
    nodes = nodes_for(lab, site)
    services.bmc_sweep_nodes([n.pk for n in nodes])
    before = BmcFacts.objects.get(node=nodes[1])
    BmcFacts.objects.filter(node=nodes[1]).update(inventory={"product": "kept"})
    lab.bmc(1).faults.unreachable = True
    # one batch, one answer and one failure: each row writes what it learnt, nothing else
    counts = services.bmc_sweep_nodes([n.pk for n in nodes])
    assert (counts["ok"], counts["failed"]) == (1, 1)
    failed = BmcFacts.objects.get(node=nodes[1])
    assert failed.last_error_cause == "unreachable" and failed.backoff_until is not None
    assert failed.sensors == before.sensors and failed.sensors  # the last known readings
    assert failed.features == before.features
    assert failed.inventory == {"product": "kept"}  # a details read's, untouched
    fine = BmcFacts.objects.get(node=nodes[0])
    assert (fine.last_error_cause, fine.backoff_until) == ("", None)
    assert fine.sensors and Node.objects.get(pk=nodes[0].pk).reachable is True
    assert Node.objects.get(pk=nodes[1].pk).reachable is False
