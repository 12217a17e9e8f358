"""Heat alarms: raise once, clear, history, e-mails, audit, broadcasts and partner visibility."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core import mail
from django.db import IntegrityError, transaction

from apps.accounts.models import Role
from apps.audit.models import AuditEvent
from apps.heat import alarms, physics, selectors
from apps.heat.ingest import ingest_readings
from apps.heat.meters import MeterReading
from apps.heat.models import HeatAlarm
from apps.sites.models import Organisation, Site
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.HEAT_MAX_GAP_S = 300
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def people(site):
    other = Organisation.objects.create(name="Autre réseau")
    return {
        "engineer": UserFactory(username="eng", role=Role.ENGINEER, email="eng@op.example"),
        "mute": UserFactory(username="mute", role=Role.ENGINEER, email=""),
        "partner": UserFactory(
            username="p", role=Role.PARTNER, organisation=site.partner, email="p@reseau.example"
        ),
        "other": UserFactory(
            username="o", role=Role.PARTNER, organisation=other, email="o@autre.example"
        ),
        "planner": UserFactory(username="pl", role=Role.PLANNER, email="pl@op.example"),
    }


def reading(ts, register, supply=70.0, power=60.0):
    flow = physics.flow_for_power_m3h(power, supply, 40.0)
    return MeterReading(supply, 40.0, flow, power, register, ts)


def feed(meter, start, minutes, supply=70.0, power=60.0, register=1000.0):
    """One reading a minute; returns the time of the last one and the register after it."""
    rows = [reading(start + timedelta(minutes=i), register + power / 60 * i, supply, power)
            for i in range(minutes)]  # fmt: skip
    ingest_readings({meter.id: rows})
    return rows[-1].read_at, rows[-1].energy_kwh


def evaluate(site, now, capture):
    with capture(execute=True):
        return alarms.alarms_evaluate([site.id], now=now)


def listen(*groups):
    layer = get_channel_layer()
    channels = {g: async_to_sync(layer.new_channel)() for g in groups}
    for group, channel in channels.items():
        async_to_sync(layer.group_add)(group, channel)
    return channels


def drain(channel):
    layer = get_channel_layer()
    events = []

    async def receive_all():
        while True:
            try:
                events.append((await asyncio.wait_for(layer.receive(channel), 0.2))["event"])
            except TimeoutError:
                return

    async_to_sync(receive_all)()
    return events


def test_supply_below_contract_for_15_minutes_raises_once_and_clears(
    make_meter, site, people, django_capture_on_commit_callbacks
):
    meter = make_meter("HM-SECRET")
    last, register = feed(meter, T0, 10)
    last, register = feed(meter, last + timedelta(minutes=1), 10, supply=60.0, register=register)
    # Below for 9 minutes only: nothing yet.
    assert evaluate(site, last, django_capture_on_commit_callbacks) == []
    last, register = feed(meter, last + timedelta(minutes=1), 10, supply=60.0, register=register)
    channels = listen(f"site.{site.id}.heat", f"site.{site.id}.hardware")
    (change,) = evaluate(site, last, django_capture_on_commit_callbacks)
    alarm = change.alarm
    assert (change.change, alarm.kind, alarm.partner_visible) == ("raised", "below_contract", True)
    assert "60.0 °C below the contracted 65 °C" in alarm.detail
    # Raised once: evaluating again, even a minute later, changes nothing.
    assert evaluate(site, last + timedelta(seconds=30), django_capture_on_commit_callbacks) == []
    assert HeatAlarm.objects.count() == 1

    sent = {m.to[0]: m for m in mail.outbox}
    assert set(sent) == {"eng@op.example", "p@reseau.example"}
    assert "Alarm: Supply below contracted minimum at Lyon 1" in sent["p@reseau.example"].subject
    assert "HM-SECRET" not in sent["p@reseau.example"].body
    assert "HM-SECRET" not in sent["eng@op.example"].body  # a site alarm names no meter
    (event,) = drain(channels[f"site.{site.id}.heat"])
    assert (event["type"], event["change"], event["kind"]) == (
        "heat.alarm",
        "raised",
        "below_contract",
    )
    assert "meter_id" not in event
    assert drain(channels[f"site.{site.id}.hardware"]) == []
    assert AuditEvent.objects.filter(action="heat.alarm_raised", site=site).count() == 1

    mail.outbox.clear()
    last, _ = feed(meter, last + timedelta(minutes=1), 1, supply=66.0, register=register + 1)
    (change,) = evaluate(site, last, django_capture_on_commit_callbacks)
    assert change.change == "cleared" and change.alarm.cleared_at == last
    assert {m.to[0] for m in mail.outbox} == {"eng@op.example", "p@reseau.example"}
    assert all(m.subject.startswith("[Heatsite] Cleared") for m in mail.outbox)
    assert AuditEvent.objects.filter(action="heat.alarm_cleared", site=site).count() == 1
    (past,) = selectors.alarm_history(site.id, partner_visible_only=True)
    assert past.id == alarm.id and not past.active and past.meter_serial is None


def test_a_silent_meter_raises_an_engineering_alarm_partners_never_see(
    make_meter, site, people, django_capture_on_commit_callbacks
):
    meter = make_meter("HM-QUIET")
    last, register = feed(meter, T0, 5)
    assert evaluate(site, last + timedelta(minutes=4), django_capture_on_commit_callbacks) == []
    channels = listen(f"site.{site.id}.heat", f"site.{site.id}.hardware")
    (change,) = evaluate(site, last + timedelta(minutes=6), django_capture_on_commit_callbacks)
    alarm = change.alarm
    assert (alarm.kind, alarm.meter_id, alarm.partner_visible) == ("meter_offline", meter.id, False)
    assert [m.to for m in mail.outbox] == [["eng@op.example"]]
    assert "HM-QUIET" in mail.outbox[0].body
    (event,) = drain(channels[f"site.{site.id}.hardware"])
    assert event["kind"] == "meter_offline" and event["meter_id"] == meter.id
    assert drain(channels[f"site.{site.id}.heat"]) == []
    assert selectors.active_alarms([site.id], partner_visible_only=True) == []
    (row,) = selectors.active_alarms([site.id], partner_visible_only=False)
    assert row.meter_serial == "HM-QUIET" and row.kind_label == "Heat meter offline"

    last, _ = feed(meter, last + timedelta(minutes=7), 1, register=register + 7)
    (change,) = evaluate(site, last, django_capture_on_commit_callbacks)
    assert change.change == "cleared"
    assert selectors.active_alarms([site.id], partner_visible_only=False) == []


def test_output_dropping_by_more_than_half_raises_and_recovery_clears(
    make_meter, site, people, django_capture_on_commit_callbacks
):
    meter = make_meter()
    last, register = feed(meter, T0, 61, power=100.0)  # 09:00-10:00 at 100 kW
    last, register = feed(meter, last + timedelta(minutes=1), 2, power=60.0, register=register)
    assert evaluate(site, last, django_capture_on_commit_callbacks) == []  # -40 %: fine
    last, register = feed(meter, last + timedelta(minutes=1), 2, power=30.0, register=register)
    (change,) = evaluate(site, last, django_capture_on_commit_callbacks)
    alarm = change.alarm
    assert (alarm.kind, alarm.partner_visible) == ("output_drop", True)
    assert alarm.context["reference_kw"] == pytest.approx(100.0)
    assert "down 70 %" in alarm.detail
    assert {m.to[0] for m in mail.outbox} == {"eng@op.example", "p@reseau.example"}
    # An hour later the reference hour is itself low, but the alarm keeps its own reference.
    last, register = feed(meter, last + timedelta(minutes=1), 60, power=30.0, register=register)
    assert evaluate(site, last, django_capture_on_commit_callbacks) == []
    last, register = feed(meter, last + timedelta(minutes=1), 1, power=80.0, register=register)
    (change,) = evaluate(site, last, django_capture_on_commit_callbacks)
    assert change.change == "cleared"


def test_no_output_drop_alarm_while_the_site_is_in_maintenance(
    make_meter, site, people, django_capture_on_commit_callbacks
):
    Site.objects.filter(pk=site.pk).update(status=Site.Status.MAINTENANCE)
    meter = make_meter()
    last, register = feed(meter, T0, 61, power=100.0)
    last, _ = feed(meter, last + timedelta(minutes=1), 2, power=10.0, register=register)
    assert evaluate(site, last, django_capture_on_commit_callbacks) == []


def test_the_database_refuses_a_second_active_alarm_of_a_kind(site, make_meter):
    meter = make_meter()
    fields = {"site": site, "raised_at": T0, "detail": "x"}
    HeatAlarm.objects.create(kind="below_contract", **fields)
    HeatAlarm.objects.create(kind="meter_offline", meter=meter, **fields)
    HeatAlarm.objects.create(kind="below_contract", cleared_at=T0, **fields)  # history is fine
    for kind, meter_or_none in (("below_contract", None), ("meter_offline", meter)):
        with pytest.raises(IntegrityError), transaction.atomic():
            HeatAlarm.objects.create(kind=kind, meter=meter_or_none, **fields)


def test_bad_arguments_give_one_clear_error(site):
    with pytest.raises(alarms.AlarmError):
        alarms.alarms_evaluate([site.id], now=T0.replace(tzinfo=None))
    with pytest.raises(selectors.HeatQueryError):
        selectors.alarm_history(site.id, partner_visible_only=False, limit=0)
    with pytest.raises(selectors.HeatQueryError):
        selectors.alarm_history(site.id, partner_visible_only=False, start=T0, end=T0)
