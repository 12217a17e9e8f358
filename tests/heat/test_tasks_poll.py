"""The meter sweep and poll tasks against lab meters over Modbus TCP, with the live events
captured on the in-memory channel layer."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.heat import tasks
from apps.heat.models import MeterState, Reading
from apps.sites.models import Site

pytestmark = pytest.mark.django_db
READING_KEYS = {"type", "site_id", "ts", "polled_at", "power_kw", "supply_c", "return_c",
                "flow_m3h", "energy_kwh", "coverage", "contract_min_supply_c",
                "supply_ok"}  # fmt: skip


@pytest.fixture(autouse=True)
def _in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.METER_TIMEOUT = 30.0  # bounds a broken lab only: no meter here is silent


def listen(*groups):
    layer = get_channel_layer()
    channels = {}
    for group in groups:
        channels[group] = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(group, channels[group])
    return channels


def drain(channel):
    layer = get_channel_layer()
    events = []

    async def receive_all():
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), 0.2)
            except TimeoutError:
                return
            events.append(message["event"])

    async_to_sync(receive_all)()
    return events


@pytest.fixture
def lab_meters(farm, make_meter):
    def make(*serials):
        meters = []
        for serial in serials:
            lab = farm.add(serial, load_kw=80)
            meters.append(make_meter(serial, port=lab.port, unit_id=lab.unit_id))
        return meters

    return make


def test_the_poll_task_stores_readings_and_broadcasts_partner_safe_events(
    lab_meters, site, django_capture_on_commit_callbacks
):
    meters = lab_meters("HM-A", "HM-B")
    groups = [f"site.{site.id}.heat", f"partner.{site.partner_id}.heat", "fleet.heat",
              f"site.{site.id}.hardware"]  # fmt: skip
    channels = listen(*groups)
    with django_capture_on_commit_callbacks(execute=True):
        summary = tasks.meter_poll_task([m.id for m in meters])
    assert summary["ok"] == 2 and summary["sites_broadcast"] == 1
    stored = list(Reading.objects.all())
    assert len(stored) == 2
    for group in groups[:3]:
        events = drain(channels[group])
        (event,) = [e for e in events if e["type"] == "heat.reading"]
        # The fleet and the partner also get their new total; a site's own page does not.
        totals = [e["power_kw"] for e in events if e["type"] == "heat.fleet_total"]
        if group.startswith("site."):
            assert totals == []
        else:
            assert totals == [pytest.approx(sum(r.power_kw for r in stored), abs=0.01)]
        assert set(event) == READING_KEYS
        assert event["site_id"] == site.id and event["type"] == "heat.reading"
        # Site figures are the sum of its meters' stored readings (flow-weighted temperatures).
        assert event["power_kw"] == pytest.approx(sum(r.power_kw for r in stored))
        assert event["flow_m3h"] == pytest.approx(sum(r.flow_m3h for r in stored))
        assert event["energy_kwh"] == pytest.approx(sum(r.energy_kwh for r in stored))
        lo, hi = sorted(r.supply_c for r in stored)
        assert lo <= event["supply_c"] <= hi and event["power_kw"] > 50
        assert event["ts"].endswith("+00:00") and event["polled_at"] <= event["ts"]
        text = json.dumps(event)
        for secret in ("HM-A", "HM-B", "127.0.0.1", str(meters[0].port)):
            assert secret not in text
    assert drain(channels[groups[3]]) == []  # nothing changed state


def test_a_meter_going_offline_is_told_to_engineers_only(
    lab_meters, farm, site, django_capture_on_commit_callbacks
):
    (meter,) = lab_meters("HM-GONE")
    tasks.meter_poll_task([meter.id])
    farm.set_offline("HM-GONE", "refuse")
    channels = listen(f"site.{site.id}.heat", f"partner.{site.partner_id}.heat",
                      f"site.{site.id}.hardware")  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        summary = tasks.meter_poll_task([meter.id])
    assert (summary["ok"], summary["failed"], summary["sites_broadcast"]) == (0, 1, 0)
    (event,) = drain(channels[f"site.{site.id}.hardware"])
    assert (event["type"], event["status"], event["serial"]) == (
        "heat.meter_state",
        "offline",
        "HM-GONE",
    )
    assert drain(channels[f"site.{site.id}.heat"]) == []
    assert drain(channels[f"partner.{site.partner_id}.heat"]) == []
    assert MeterState.objects.get(meter=meter).status == "offline"

    farm.set_offline("HM-GONE", None)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.meter_poll_task([meter.id])
    (event,) = drain(channels[f"site.{site.id}.hardware"])
    assert event["status"] == "online"


def test_the_sweep_batches_installed_meters_and_skips_decommissioned_sites(
    make_meter, site, settings, monkeypatch
):
    settings.METER_SWEEP_BATCH = 2
    live = [make_meter(f"HM-{i}") for i in range(5)]
    make_meter("HM-OLD", removed_at=site.created_at)
    closed = Site.objects.create(code="closed", name="Closed", partner=site.partner,
                                 status=Site.Status.DECOMMISSIONED)  # fmt: skip
    make_meter("HM-CLOSED").__class__.objects.filter(serial="HM-CLOSED").update(site=closed)
    sent = []
    monkeypatch.setattr(tasks.meter_poll_task, "delay", sent.append)
    assert tasks.meter_sweep_task() == 5
    assert sent == [[live[0].id, live[1].id], [live[2].id, live[3].id], [live[4].id]]
