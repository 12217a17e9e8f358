"""The gateway's meter-reading spool: bounded, on disk, kept across restarts, each reading once;
the gateway reads its meters on its own clock and uploads the spool oldest first; the central
side stores a batch once however often it comes, with the gateway's read times, and no gap."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from prometheus_client import REGISTRY

from apps.audit.models import AuditEvent
from apps.gateways import agent_meters, crypto, dispatch, meters, results, wire
from apps.gateways.models import Gateway, GatewaySite
from apps.gateways.spool import Spool
from apps.heat.models import HourlyRollup, MeterState, Reading, RejectedReading
from apps.lab.meters import MeterFarm
from tests.factories import HeatMeterFactory, SiteFactory

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def reading(minute: int, **values) -> dict:
    return {"read_at": (T0 + timedelta(minutes=minute)).isoformat(), "power_kw": 1.0, **values}


def test_the_spool_keeps_the_newest_readings_and_counts_the_oldest_it_drops(tmp_path):
    spool = Spool(tmp_path, max_readings=3)
    assert spool.append([(7, reading(m)) for m in range(2)], now=T0.timestamp()) == (2, 0)
    assert spool.append([(7, reading(m)) for m in range(2, 5)], now=T0.timestamp()) == (3, 2)
    assert [e.reading["read_at"] for e in spool.head(10)] == [
        reading(m)["read_at"] for m in (2, 3, 4)
    ]
    assert spool.report() == {"depth": 3, "dropped": 2, "oldest": reading(2)["read_at"]}


def test_readings_older_than_the_age_bound_are_dropped(tmp_path):
    spool = Spool(tmp_path, max_age_s=3600)
    now = (T0 + timedelta(minutes=90)).timestamp()
    assert spool.append([(7, reading(0)), (7, reading(60))], now=now) == (2, 1)
    assert [e.reading["read_at"] for e in spool.head(10)] == [reading(60)["read_at"]]


def test_a_reading_appended_twice_is_spooled_once(tmp_path):
    spool = Spool(tmp_path)
    spool.append([(7, reading(0)), (8, reading(0))], now=T0.timestamp())
    assert spool.append([(7, reading(0)), (7, reading(1))], now=T0.timestamp()) == (1, 0)
    assert [(e.meter_id, e.reading["read_at"]) for e in spool.head(10)] == [
        (7, reading(0)["read_at"]),
        (8, reading(0)["read_at"]),
        (7, reading(1)["read_at"]),
    ]


def test_the_spool_survives_a_restart_and_an_acknowledgement_removes_only_what_it_names(tmp_path):
    spool = Spool(tmp_path, max_readings=2)
    spool.append([(7, reading(m)) for m in range(3)], now=T0.timestamp())
    spool.close()
    again = Spool(tmp_path, max_readings=2)  # the gateway restarted
    entries = again.head(10)
    assert [e.reading["read_at"] for e in entries] == [reading(1)["read_at"], reading(2)["read_at"]]
    assert again.dropped() == 1
    assert again.ack(entries[0].seq) == 1
    assert again.ack(entries[0].seq) == 0  # heard twice
    again.append([(7, reading(3))], now=T0.timestamp())
    # sequence numbers are never reused: an old acknowledgement cannot remove a new reading
    assert [e.seq for e in again.head(10)] == [entries[1].seq, entries[1].seq + 1]


# -- the gateway's side against a lab meter, and the central side ------------------------------


@pytest.fixture
def farm():
    with MeterFarm() as running:
        yield running


@pytest.fixture
def site_meters(farm, tmp_path, settings):
    """A gateway's meters (a lab meter over Modbus) and what it publishes, with its keys."""
    settings.METER_POLL_INTERVAL = 10
    keys = crypto.keys_generate()
    published = []

    def make(state=tmp_path / "state", publish=None):
        return agent_meters.SiteMeters(
            name="gw-spool",
            keys=keys,
            state_dir=state,
            spool=Spool(state),
            publish=publish or (lambda kind, call_id, payload: published.append((kind, payload))),
            timeout=5.0,
        )

    return make, keys, published


@pytest.mark.django_db
def test_the_gateway_keeps_its_meter_list_across_a_restart_and_reads_without_an_uplink(
    farm, site_meters, monkeypatch
):
    make, keys, _published = site_meters
    sent = []
    monkeypatch.setattr(
        dispatch, "gateway_send", lambda name, task, call, expires: sent.append(call)
    )
    site = SiteFactory()
    gateway = Gateway.objects.create(
        name="gw-spool", box_public_key=keys.box_public, signing_public_key=keys.signing_public
    )
    GatewaySite.objects.create(site=site, gateway=gateway)
    lab = farm.add("HM-SP-1")
    meter = HeatMeterFactory(site=site, serial="HM-SP-1", port=lab.port, unit_id=lab.unit_id)
    assert meters.meter_poll_send([meter.pk]) == []
    gateway_side = make()
    assert gateway_side.list_receive(sent[0]) == 1
    assert "HM-SP-1" not in gateway_side.path.read_text()  # kept sealed on disk

    def down(kind, call_id, payload):
        raise ConnectionError("uplink down")

    restarted = make(publish=down)  # a restart with the uplink down still knows its meters
    assert (restarted.interval, [m["meter_id"] for m in restarted.meters]) == (10.0, [meter.pk])
    assert restarted.read_round() == 1
    with pytest.raises(ConnectionError):
        restarted.upload()
    assert restarted.spool.depth() == 1  # still there for when the uplink is back


@pytest.mark.django_db
def test_spooled_readings_are_stored_once_with_their_read_times_and_no_gap(
    farm, site_meters, monkeypatch, django_capture_on_commit_callbacks
):
    make, keys, published = site_meters
    acks = []
    monkeypatch.setattr(
        dispatch,
        "gateway_send",
        lambda name, task, call, expires: acks.append((name, task, call)),
    )
    site, other = SiteFactory(), SiteFactory()
    gateway = Gateway.objects.create(
        name="gw-spool", box_public_key=keys.box_public, signing_public_key=keys.signing_public
    )
    GatewaySite.objects.create(site=site, gateway=gateway)
    lab = farm.add("HM-SP-2")
    meter = HeatMeterFactory(site=site, serial="HM-SP-2", port=lab.port, unit_id=lab.unit_id)
    foreign = HeatMeterFactory(site=other)
    plain = {f: getattr(meter, f) for f in ("protocol", "host", "port", "unit_id", "model")}
    gateway_side = make()
    gateway_side._take("list-1", {"meters": [{"meter_id": meter.pk, **plain}]})
    counted = {
        event: lambda event=event: (
            REGISTRY.get_sample_value(
                "heatsite_gateway_spool_readings_total", {"gateway": "gw-spool", "event": event}
            )
            or 0
        )
        for event in ("spooled", "uploaded", "received")
    }
    before = {event: count() for event, count in counted.items()}
    for _ in range(4):  # the uplink is down: four rounds go to the spool
        assert gateway_side.read_round() == 1
    spooled = [e.reading["read_at"] for e in gateway_side.spool.head(10)]
    assert gateway_side.upload() == 4
    assert gateway_side.upload() == 0  # the batch waits for its acknowledgement
    ((kind, payload),) = published
    assert kind == wire.METER_READINGS_KIND
    # a forged reading of another site's meter in the batch is ignored
    payload["readings"].append({**payload["readings"][0], "seq": 999, "meter_id": foreign.pk})

    def receive(payload):
        document = wire.envelope(
            gateway="gw-spool", kind=kind, call_id="", payload=payload, version="1.1"
        )
        with django_capture_on_commit_callbacks(execute=True):  # the acknowledgement
            return results.result_receive(document, crypto.sign(keys, document))

    assert receive(payload) == "stored"
    stored = list(Reading.objects.filter(meter=meter).order_by("ts").values_list("ts", flat=True))
    assert stored == [datetime.fromisoformat(t) for t in spooled]  # the gateway's read times
    assert not Reading.objects.filter(meter=foreign).exists()
    assert MeterState.objects.get(meter=meter).status == MeterState.Status.OK
    rollups = HourlyRollup.objects.filter(meter=meter)
    assert sum(r.readings for r in rollups) == 4
    covered = sum(r.covered_s for r in rollups)
    assert covered == pytest.approx((stored[-1] - stored[0]).total_seconds())  # no gap

    assert receive(payload) == "stored"  # the acknowledgement was lost: the batch came again
    assert Reading.objects.filter(meter=meter).count() == 4
    assert not RejectedReading.objects.exists()
    assert sum(r.readings for r in HourlyRollup.objects.filter(meter=meter)) == 4

    assert [(task, call) for _name, task, call in acks] == [
        (wire.SPOOL_ACK_TASK, {"gateway": "gw-spool", "upto": 999})
    ] * 2
    # the gateway takes the acknowledgement: the spool is empty, the next batch may go
    gateway_side.ack_receive(payload["readings"][3]["seq"])
    assert gateway_side.spool.depth() == 0
    assert gateway_side._sent_upto is None
    after = {event: count() - before[event] for event, count in counted.items()}
    assert after == {"spooled": 4, "uploaded": 4, "received": 10}  # 5 a batch, sent twice


@pytest.mark.django_db
def test_a_meter_failing_now_is_marked_offline_after_its_spooled_readings_are_stored(
    farm, site_meters, monkeypatch
):
    make, keys, published = site_meters
    monkeypatch.setattr(dispatch, "gateway_send", lambda *args, **kwargs: None)
    site = SiteFactory()
    gateway = Gateway.objects.create(
        name="gw-spool", box_public_key=keys.box_public, signing_public_key=keys.signing_public
    )
    GatewaySite.objects.create(site=site, gateway=gateway)
    lab = farm.add("HM-SP-3")
    meter = HeatMeterFactory(site=site, serial="HM-SP-3", port=lab.port, unit_id=lab.unit_id)
    plain = {f: getattr(meter, f) for f in ("protocol", "host", "port", "unit_id", "model")}
    gateway_side = make()
    gateway_side._take("list-1", {"meters": [{"meter_id": meter.pk, **plain}]})
    gateway_side.read_round()
    gateway_side._take("list-2", {"meters": [{"meter_id": meter.pk, **plain, "port": 9}]})
    assert gateway_side.read_round() == 0  # nothing answers on port 9 now
    gateway_side.upload()
    ((_kind, payload),) = published
    assert list(payload["failing"]) == [str(meter.pk)]
    document = wire.envelope(
        gateway="gw-spool", kind=_kind, call_id="", payload=payload, version="1.1"
    )
    assert results.result_receive(document, crypto.sign(keys, document)) == "stored"
    assert Reading.objects.filter(meter=meter).count() == 1
    assert MeterState.objects.get(meter=meter).status == MeterState.Status.OFFLINE


@pytest.mark.django_db
def test_the_heartbeat_reports_the_spool_and_the_gateways_page_shows_it(client, engineer):
    keys = crypto.keys_generate()
    gateway = Gateway.objects.create(
        name="gw-beat", box_public_key=keys.box_public, signing_public_key=keys.signing_public
    )
    report = {"depth": 42, "dropped": 3, "oldest": T0.isoformat()}
    document = wire.envelope(
        gateway="gw-beat",
        kind=wire.HEARTBEAT_KIND,
        call_id="",
        payload={"queue": "gw.gw-beat", "spool": report},
        version="1.1",
    )
    assert results.result_receive(document, crypto.sign(keys, document)) == "heartbeat"
    gateway.refresh_from_db()
    assert (gateway.spool_depth, gateway.spool_dropped, gateway.spool_oldest_at) == (42, 3, T0)
    client.force_login(engineer)
    page = client.get(reverse("gateways")).content.decode()
    assert "42" in page and "3 dropped" in page


@pytest.mark.django_db
def test_an_unreadable_batch_entry_is_skipped_and_acknowledged_and_a_non_batch_refused(
    monkeypatch, django_capture_on_commit_callbacks
):
    acks = []
    monkeypatch.setattr(
        dispatch, "gateway_send", lambda name, task, call, expires: acks.append(call)
    )
    keys = crypto.keys_generate()
    site = SiteFactory()
    gateway = Gateway.objects.create(
        name="gw-bad", box_public_key=keys.box_public, signing_public_key=keys.signing_public
    )
    GatewaySite.objects.create(site=site, gateway=gateway)
    meter = HeatMeterFactory(site=site)
    bad = [
        {"seq": 1, "meter_id": meter.pk, "reading": {**reading(0), "supply_c": "warm"}},
        {"seq": 2, "meter_id": meter.pk, "reading": {"read_at": "2026-12-01T08:00:00"}},
        {"seq": 3, "meter_id": meter.pk},
    ]

    def receive(payload):
        document = wire.envelope(
            gateway="gw-bad",
            kind=wire.METER_READINGS_KIND,
            call_id="",
            payload=payload,
            version="1.1",
        )
        with django_capture_on_commit_callbacks(execute=True):
            return results.result_receive(document, crypto.sign(keys, document))

    # sending these again would not make them readable: acknowledged, nothing stored
    assert receive({"readings": bad, "failing": {}}) == "stored"
    assert acks == [{"gateway": "gw-bad", "upto": 3}]
    assert not Reading.objects.exists() and not RejectedReading.objects.exists()
    assert receive({"readings": "all of them"}) == "refused"
    assert AuditEvent.objects.filter(action="gateway.answer", result="refused").exists()


@pytest.mark.django_db
def test_a_gateway_is_sent_its_whole_meter_list_whichever_of_its_meters_a_sweep_batch_holds(
    monkeypatch, settings
):
    settings.METER_POLL_INTERVAL = 15
    sent = []
    monkeypatch.setattr(
        dispatch, "gateway_send", lambda name, task, call, expires: sent.append(call)
    )
    keys = crypto.keys_generate()
    here, there, elsewhere = SiteFactory(), SiteFactory(), SiteFactory()
    gateway = Gateway.objects.create(
        name="gw-list", box_public_key=keys.box_public, signing_public_key=keys.signing_public
    )
    GatewaySite.objects.bulk_create([GatewaySite(site=s, gateway=gateway) for s in (here, there)])
    batch = HeatMeterFactory(site=here)
    other_batch = HeatMeterFactory(site=there)
    HeatMeterFactory(site=here, removed_at=T0)  # removed: not read any more
    HeatMeterFactory(site=elsewhere)  # another site's
    assert meters.meter_poll_send([batch.pk]) == []
    ((call,),) = [sent]
    opened = crypto.unseal(keys, call["sealed"], aad=f"gw-list:{call['call_id']}")
    assert [m["meter_id"] for m in opened["meters"]] == [batch.pk, other_batch.pk]
    assert opened["interval"] == 15
