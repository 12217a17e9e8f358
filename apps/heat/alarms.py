"""Heat alarms: raised once, cleared when the condition ends, history kept, people told.

Three conditions, judged by :func:`alarms_evaluate` after every poll from meter state, a few
indexed raw-reading lookups and the previous hour's rollup (cheap: nothing scans history):

``below_contract`` (site) — the supply temperature has stayed below the site's contracted
    minimum for longer than ``HEAT_ALARM_BELOW_CONTRACT_S`` (default 15 min): the last reading
    at or before ``now - threshold`` was below, and no reading since was at or above. Cleared
    by the first fresh reading at or above the minimum. **Partner-visible**: it is their heat
    supply and their contract.
``output_drop`` (site) — an active site's current thermal power is below
    ``1 - HEAT_ALARM_DROP_FRACTION`` (default 0.5, i.e. a drop of more than half) of the
    previous full UTC hour's average, that hour being at least half covered and averaging at
    least ``HEAT_ALARM_DROP_MIN_KW`` (default 5 kW, so an idle site does not flap). Cleared when
    power is back above the same fraction of the reference the alarm was raised against (kept
    in ``context``). **Partner-visible**: they lose heat.
``meter_offline`` (meter) — no good reading for ``HEAT_ALARM_OFFLINE_S`` (default 5 min),
    whether the meter does not answer or answers with rejected values. Cleared by a good
    reading. **Engineering-only**: a partner cannot act on a meter (engineers repair it), and
    its serial, host and errors are hardware detail. Partners are not left in the dark about
    the consequence, though: missing data shows on their pages as gaps and as coverage below
    100 % in every figure and statement, and the live chart stops; and if the outage also
    means less heat, ``output_drop`` / ``below_contract`` tell them once data is back.

Each raise and clear writes an audit event (actor: system), sends a ``heat.alarm`` event to
``site.<id>.heat`` (partner-visible alarms) or ``site.<id>.hardware`` (engineering ones), and,
once committed, e-mails engineers and, for partner-visible alarms, the site partner's users
(:mod:`apps.heat.notifications`). Two partial unique indexes make a duplicate active alarm
impossible even when two evaluations race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum

from apps.audit.services import audit_record
from apps.core.realtime import broadcast
from apps.sites.models import HeatMeter, Site

from .buckets import hour_bucket, max_gap_s
from .models import HeatAlarm, HourlyRollup, MeterState, Reading

Kind = HeatAlarm.Kind
PARTNER_VISIBLE = {Kind.BELOW_CONTRACT: True, Kind.OUTPUT_DROP: True, Kind.METER_OFFLINE: False}
MIN_REFERENCE_COVERAGE = 0.5


class AlarmError(ValueError):
    """Bad arguments to the alarm functions (naive time)."""


def below_contract_s() -> float:
    return float(getattr(settings, "HEAT_ALARM_BELOW_CONTRACT_S", 15 * 60))


def offline_s() -> float:
    return float(getattr(settings, "HEAT_ALARM_OFFLINE_S", 5 * 60))


def drop_fraction() -> float:
    return float(getattr(settings, "HEAT_ALARM_DROP_FRACTION", 0.5))


def drop_min_kw() -> float:
    return float(getattr(settings, "HEAT_ALARM_DROP_MIN_KW", 5.0))


@dataclass(frozen=True)
class AlarmChange:
    """One alarm raised or cleared by an evaluation."""

    alarm: HeatAlarm
    change: Literal["raised", "cleared"]


@dataclass(frozen=True)
class Judgement:
    """A condition's verdict: True (holds), False (does not), None (cannot tell: keep as is)."""

    holds: bool | None
    detail: str = ""
    context: dict[str, Any] | None = None


UNKNOWN = Judgement(None)


def alarms_evaluate(site_ids: list[int] | set[int], *, now: datetime) -> list[AlarmChange]:
    """Raise and clear the alarms of these sites as of ``now``; returns what changed."""
    if now.tzinfo is None:
        raise AlarmError("now must carry a time zone")
    sites = list(Site.objects.filter(id__in=list(site_ids)).select_related("partner"))
    if not sites:
        return []
    ids = [s.id for s in sites]
    meters = list(HeatMeter.objects.filter(site_id__in=ids, removed_at__isnull=True))
    states = {s.meter_id: s for s in MeterState.objects.filter(meter_id__in=[m.id for m in meters])}
    reference = _previous_hour_power(ids, now)
    changes: list[AlarmChange] = []
    with transaction.atomic():
        active = {
            (a.site_id, a.meter_id, a.kind): a
            for a in HeatAlarm.objects.select_for_update().filter(
                site_id__in=ids, cleared_at__isnull=True
            )
        }
        for site in sites:
            site_meters = [m for m in meters if m.site_id == site.id]
            fresh = [
                states[m.id] for m in site_meters if m.id in states and _fresh(states[m.id], now)
            ]
            for m in site_meters:
                judged = _offline(m, states.get(m.id), now)
                _apply(site, m, Kind.METER_OFFLINE, judged, active, now, changes)
            current_ids = {m.id for m in site_meters}
            gone = [
                key
                for key in active
                if key[0] == site.id and key[1] is not None and key[1] not in current_ids
            ]
            for key in gone:  # a replaced meter cannot be offline any more
                _clear(active.pop(key), now, changes, reason="meter removed")
            judged = _below_contract(site, fresh, now)
            _apply(site, None, Kind.BELOW_CONTRACT, judged, active, now, changes)
            current = active.get((site.id, None, Kind.OUTPUT_DROP))
            judged = _output_drop(site, fresh, reference.get(site.id), current)
            _apply(site, None, Kind.OUTPUT_DROP, judged, active, now, changes)
    return changes


# --- conditions ------------------------------------------------------------------------------


def _fresh(state: MeterState, now: datetime) -> bool:
    """A state whose last good reading is recent enough to speak for the present."""
    if state.last_ts is None:
        return False
    return now - state.last_ts < timedelta(seconds=offline_s())


def _offline(meter: HeatMeter, state: MeterState | None, now: datetime) -> Judgement:
    if state is None:
        return UNKNOWN  # never polled
    since = state.last_ts or state.offline_since
    if since is None:
        return UNKNOWN
    silent = now - since
    if silent < timedelta(seconds=offline_s()):
        return Judgement(False)
    why = state.last_error or state.get_status_display().lower()
    last = f"since {since:%Y-%m-%d %H:%M} UTC" if state.last_ts else "ever"
    return Judgement(
        True,
        f"No good reading from meter {meter.serial} {last} ({why})"[:300],
        {
            "last_good_at": state.last_ts.isoformat() if state.last_ts else None,
            "status": state.status,
            "error": state.last_error,
        },
    )


def _below_contract(site: Site, fresh: list[MeterState], now: datetime) -> Judgement:
    if not fresh:
        return UNKNOWN
    contract = float(site.contract_min_supply_c)
    below = [s for s in fresh if (s.last_supply_c or 0.0) < contract]
    if not below:
        return Judgement(False)
    threshold = now - timedelta(seconds=below_contract_s())
    gap = timedelta(seconds=max_gap_s())
    for state in below:
        before = (
            Reading.objects.filter(meter_id=state.meter_id, ts__lte=threshold)
            .order_by("-ts")
            .values_list("ts", "supply_c")
            .first()
        )
        # The reading at the threshold must be below too, and recent enough that the time in
        # between was observed rather than guessed across a gap.
        if before is None or before[1] >= contract or before[0] < threshold - gap:
            continue
        recovered = Reading.objects.filter(
            meter_id=state.meter_id, ts__gt=threshold, ts__lte=now, supply_c__gte=contract
        ).exists()
        if recovered:
            continue
        minutes = below_contract_s() / 60
        return Judgement(
            True,
            f"Supply {state.last_supply_c:.1f} °C below the contracted {contract:g} °C "
            f"for more than {minutes:g} min",
            {"supply_c": state.last_supply_c, "contract_min_supply_c": contract},
        )
    # Below now, but not yet for long enough: an active alarm stays, none is raised.
    return UNKNOWN


def _previous_hour_power(site_ids: list[int], now: datetime) -> dict[int, float]:
    """Average power of each site over the previous full UTC hour, if covered enough."""
    start = hour_bucket(now)[0] - timedelta(hours=1)
    rows = (
        HourlyRollup.objects.filter(site_id__in=site_ids, bucket_start=start)
        .values("site_id")
        .annotate(kwh=Sum("energy_power_kwh"), covered=Sum("covered_s"), meters=Count("id"))
    )
    out = {}
    for row in rows:
        if row["covered"] >= MIN_REFERENCE_COVERAGE * 3600 * row["meters"]:
            out[row["site_id"]] = row["kwh"] / row["covered"] * 3600 * row["meters"]
    return out


def _output_drop(
    site: Site, fresh: list[MeterState], reference_kw: float | None, current: HeatAlarm | None
) -> Judgement:
    if site.status != Site.Status.ACTIVE:
        return Judgement(False)
    if not fresh:
        return UNKNOWN
    power = sum(s.last_power_kw or 0.0 for s in fresh)
    keep = 1 - drop_fraction()
    if current is not None:
        return Judgement(power < keep * float(current.context.get("reference_kw", 0.0)))
    if reference_kw is None or reference_kw < drop_min_kw() or power >= keep * reference_kw:
        return Judgement(False)
    return Judgement(
        True,
        f"Thermal output {power:.1f} kW, down {100 * (1 - power / reference_kw):.0f} % from "
        f"{reference_kw:.1f} kW over the previous hour",
        {"power_kw": power, "reference_kw": reference_kw},
    )


# --- raise and clear -------------------------------------------------------------------------


def _apply(
    site: Site,
    meter: HeatMeter | None,
    kind: str,
    judged: Judgement,
    active: dict[tuple[int, int | None, str], HeatAlarm],
    now: datetime,
    changes: list[AlarmChange],
) -> None:
    key = (site.id, meter.id if meter else None, kind)
    current = active.get(key)
    if judged.holds and current is None:
        alarm = _raise(site, meter, kind, judged, now)
        if alarm is not None:
            active[key] = alarm
            changes.append(AlarmChange(alarm, "raised"))
    elif judged.holds is False and current is not None:
        _clear(current, now, changes)
        del active[key]


def _raise(
    site: Site, meter: HeatMeter | None, kind: str, judged: Judgement, now: datetime
) -> HeatAlarm | None:
    try:
        with transaction.atomic():
            alarm = HeatAlarm.objects.create(
                site=site,
                meter=meter,
                kind=kind,
                raised_at=now,
                detail=judged.detail[:300],
                partner_visible=PARTNER_VISIBLE[kind],
                context=judged.context or {},
            )
    except IntegrityError:
        return None  # a concurrent evaluation raised it first: it is active, once
    _record(alarm, "raised")
    return alarm


def _clear(alarm: HeatAlarm, now: datetime, changes: list[AlarmChange], reason: str = "") -> None:
    alarm.cleared_at = now
    if reason:
        alarm.context = {**alarm.context, "cleared_because": reason}
    alarm.save(update_fields=["cleared_at", "context"])
    _record(alarm, "cleared")
    changes.append(AlarmChange(alarm, "cleared"))


def alarm_event(alarm: HeatAlarm, change: str) -> dict[str, Any]:
    """The ``heat.alarm`` websocket event (no meter serial for partner-visible alarms)."""
    event = {
        "type": "heat.alarm",
        "alarm_id": alarm.id,
        "site_id": alarm.site_id,
        "kind": alarm.kind,
        "label": alarm.get_kind_display(),
        "change": change,
        "raised_at": alarm.raised_at.isoformat(),
        "cleared_at": alarm.cleared_at.isoformat() if alarm.cleared_at else None,
        "detail": alarm.detail,
        "partner_visible": alarm.partner_visible,
    }
    if not alarm.partner_visible:
        event["meter_id"] = alarm.meter_id
    return event


def _record(alarm: HeatAlarm, change: str) -> None:
    from . import notifications

    audit_record(
        actor=None,
        action=f"heat.alarm_{change}",
        target=alarm,
        site=alarm.site,
        detail={
            "kind": alarm.kind,
            "detail": alarm.detail,
            "partner_visible": alarm.partner_visible,
        },
    )
    topic = "heat" if alarm.partner_visible else "hardware"
    broadcast(f"site.{alarm.site_id}.{topic}", alarm_event(alarm, change))
    alarm_id = alarm.id
    transaction.on_commit(lambda: notifications.alarm_notify(alarm_id, change))
