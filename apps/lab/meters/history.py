"""The seeded days of every site, drawn as ``manage.py seed_history`` stores them.

:class:`Plan` draws the figures (numpy, one day of every site at a time) and makes the rows of
the daily and hourly rollups, the electrical days, the meter states and the raw readings of the
live window; the command (:mod:`apps.lab.management.commands.seed_history`, whose docstring
tells the story) finds the live data to keep, deletes what it replaces and writes the rows.
"""

from __future__ import annotations

import math
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from apps.heat import physics
from apps.heat.buckets import day_bucket, hour_bucket, split_interval
from apps.heat.figures import WINDOWS
from apps.heat.meters import MeterReading, register_map
from apps.lab.meters.simulation import SimClock, SimulatedMeter

POLL_S = 10.0
NEVER = 10**7  # an ordinal past any date: "no live data"
# The days this close to now get hourly rollups (the site page's "last 24 hours" chart).
RECENT = timedelta(hours=24)
RAW_HOURS = math.ceil(WINDOWS["live"][0] / timedelta(hours=1))  # the live chart: 6 h
# Meters with the whole raw window: what run_lab serves by default (2,000 nodes, 8 a site).
RAW_METERS = 250
# Days before the recent ones over which seeded figures drift to the lab meter's.
BLEND_DAYS = 14
LAB_EPOCH = datetime(2000, 1, 1, tzinfo=zoneinfo.ZoneInfo("UTC"))
# A rough EN 1434 coefficient (kWh/(m3 K)) for the flow of days before the lab's hours.
K_ROUGH = physics.heat_coefficient(70.0, 45.0)


@dataclass
class Live:
    """What a meter's live data pins: the days to keep and the chain ends to meet."""

    first_day: date  # local day of the first raw reading
    last_day: date  # local day of the meter's last accepted reading (its state)
    before_cumulative: float  # cumulative register just before the first raw reading
    before_register: float
    after_cumulative: float  # the state the next reading continues from
    after_register: float
    after_ts: datetime  # when the state's reading was taken


@dataclass
class Day:
    """One day of every site, as ``Plan._days`` draws it (arrays are per site)."""

    day: date
    edges: list[tuple[datetime, datetime]]  # per zone: the local day in UTC
    rollup_end: list[datetime]  # per group: rollups cover [day start, this); raw readings after
    seconds: np.ndarray  # the day's length
    rollup_s: np.ndarray  # the part booked in rollups
    span_s: np.ndarray  # the part seeded (today: up to now)
    seeded: np.ndarray
    present: np.ndarray  # seeded with rollup readings
    hourly: np.ndarray  # recent: hourly rollups too, figures from the lab's meter model
    partial: np.ndarray  # in the raw window: raw readings (up to now) follow the rollups
    counts: np.ndarray  # register counts the day's rollups book
    carry: np.ndarray  # heat not booked yet after them (kWh)
    f: dict[str, np.ndarray]


@dataclass(frozen=True)
class Tail:
    """Where a meter's raw readings start: after its last rollup reading."""

    site: int  # index in the plan
    start: datetime
    carry: float  # heat not booked yet (kWh)
    register: int  # counts
    since: datetime | None = None  # the chain's previous reading, when not just before start


class Plan:
    """The seeded days of every site, drawn one day at a time for all sites (numpy), twice:
    a first pass adds up the heat booked on the days before each meter's live data, so the
    chain there ends exactly where the live one begins; the second (same draws) makes rows.
    A year of 10,000 sites never sits in memory at once.

    Registers are kept as counts of the register's resolution, so a seeded register is exactly
    the number the meter adapter decodes (count x scale) and the first live reading after it
    compares equal, never a float's breadth below."""

    def __init__(self, sites, meters, nodes, live, start, days, seed, until=None, *,
                 loads=None, raw_hours=RAW_HOURS, raw_meters=RAW_METERS) -> None:  # fmt: skip
        self.sites, self.start, self.days, self.seed = sites, start, days, seed
        self.until = until
        self.n = len(sites)
        self.ids = [int(s[0]) for s in sites]
        self.meter = [meters.get(s) for s in self.ids]
        # Sites are grouped by time zone and raw window (the first ``raw_meters`` meters get
        # ``raw_hours``, the others the current hour): a group shares its days' edges.
        metered = [i for i in range(self.n) if self.meter[i] is not None]
        long_raw = set(metered[:raw_meters])
        keys = [(s[1], i in long_raw) for i, s in enumerate(sites)]
        groups = sorted(set(keys))
        index = {key: k for k, key in enumerate(groups)}
        self.zones = [zoneinfo.ZoneInfo(name) for name, _ in groups]
        self.zone_of = np.array([index[key] for key in keys], dtype=np.int64)
        # Per group: where raw readings start (from the start of an hour, up to now).
        self.raw_start = [
            hour_bucket(until - timedelta(hours=raw_hours if long else 0))[0]
            for _, long in groups
        ] if until is not None else [None] * len(groups)  # fmt: skip
        self.loads = loads or {}
        self._labs: dict[int, SimulatedMeter] = {}
        self.n_nodes = np.array([nodes.get(s, 0) for s in self.ids])
        # The lab models' energy counts from one fixed instant, so that a re-run at another
        # now computes the very same heat for the same interval, to the last bit.
        self._clock = SimClock(LAB_EPOCH, speed=0)
        self.pinned = [live.get(m[0]) if m else None for m in self.meter]
        maps = [register_map(m[1]) if m else None for m in self.meter]
        self.scale = [m.fields["energy_kwh"].scale if m else 0.1 for m in maps]
        self.res = np.array(self.scale)
        self.wrap = [round(m.rollover_kwh / m.fields["energy_kwh"].scale) if m else 0 for m in maps]
        self.first_live = np.array([p.first_day.toordinal() if p else NEVER for p in self.pinned])
        self.last_live = np.array([p.last_day.toordinal() if p else -NEVER for p in self.pinned])
        self.latest: dict[int, dict] = {}
        self.tails: dict[int, Tail] = {}

    def lab(self, i: int) -> SimulatedMeter:
        """The lab's model of site ``i``'s meter, as ``run_lab`` runs it (its energy register
        aside: the seeded chain is the register)."""
        sim = self._labs.get(i)
        if sim is None:
            site_id, tz, capacity = self.ids[i], self.sites[i][1], float(self.sites[i][2])
            load = self.loads.get(site_id, 0.0)
            sim = self._labs[i] = SimulatedMeter(
                f"seed-{site_id}", clock=self._clock,
                model=self.meter[i][1] if self.meter[i] else "generic",
                nominal_kw=capacity or 10.0, load_kw=load if load > 0 else None, timezone=tz,
            )  # fmt: skip
        return sim

    def lab_kwh(self, i: int, a: datetime, b: datetime) -> float:
        """The heat the lab's meter of site ``i`` delivers from ``a`` to ``b``."""
        sim = self.lab(i)
        return sim.energy_total_kwh(b) - sim.energy_total_kwh(a)

    def _bounds(self, day: date):
        """Per group: the day's edges, where its rollups end, whether it has begun, is recent
        (hourly rollups) and has raw readings (up to now) after its rollups."""
        edges = [day_bucket(datetime(day.year, day.month, day.day, 12, tzinfo=tz), tz)
                 for tz in self.zones]  # fmt: skip
        if self.until is None:
            none = np.zeros(len(edges), dtype=bool)
            return edges, [b for _, b in edges], ~none, none, none
        until, raw = self.until, self.raw_start
        rollup_end = [b if b <= r else max(a, r) for (a, b), r in zip(edges, raw, strict=True)]
        begun = np.array([a < until for a, _ in edges])
        recent = np.array(
            [b > min(until - RECENT, r) for (_, b), r in zip(edges, raw, strict=True)]
        )
        partial = np.array([a < until and b > r for (a, b), r in zip(edges, raw, strict=True)])
        return edges, rollup_end, begun, recent & begun, partial

    def _days(self):
        """Every day: which sites it is seeded for, which of those have rollup readings, the
        heat each books (register counts) and the day's figures."""
        rng = np.random.default_rng(self.seed)
        n = self.n
        capacity = np.array([float(s[2]) for s in self.sites], dtype=float)
        capacity = np.where(capacity > 0, capacity, 10.0)
        contract = np.array([float(s[3]) for s in self.sites])
        quality = rng.uniform(0.55, 1.0, n)
        efficiency = rng.uniform(0.78, 0.97, n)
        supply_offset = rng.uniform(-4.0, 9.0, n)
        nominal_only = rng.random(n) < 0.1
        origin = rng.uniform(1e4, 1e6, n)
        carry = np.zeros(n)  # heat not booked yet: a day without readings, rounding
        z = self.zone_of
        # The lab meter's daily means, which the days before the recent ones drift to.
        lab_power = lab_supply = lab_return = np.zeros(n)
        if self.until is not None:
            labs = [self.lab(i) for i in range(n)]
            lab_power = np.array([m.efficiency * m.load_kw for m in labs])
            lab_supply = np.array([m.supply_setpoint_c for m in labs])
            lab_return = np.array([m.return_mean_c for m in labs])
        for d in range(self.days):
            day = self.start + timedelta(days=d)
            season = 0.75 + 0.2 * np.cos(2 * np.pi * (day.timetuple().tm_yday - 15) / 365.25)
            missing = rng.random(n) < 0.005
            gap = rng.random(n) < 0.02
            coverage = np.where(gap, rng.uniform(0.4, 0.95, n), 1.0)
            power_kw = capacity * quality * season * rng.uniform(0.93, 1.07, n)
            supply = contract + supply_offset + rng.normal(0, 1.5, n)
            low, high = rng.uniform(1, 6, n), rng.uniform(1, 4, n)
            edges, rollup_end, begun, recent, today = self._bounds(day)
            seconds = np.array([(b - a).total_seconds() for a, b in edges])[z]
            starts = [a for a, _ in edges]
            rollup_s = np.array(
                [(r - a).total_seconds() for a, r in zip(starts, rollup_end, strict=True)]
            )[z]
            span_s = seconds
            if self.until is not None:
                span_s = np.array([max((min(b, self.until) - a).total_seconds(), 0.0)
                                   for a, b in edges])[z]  # fmt: skip
            hourly, partial = recent[z], today[z]
            # The raw window is read as a running meter is: no missing day, no gap up to now.
            missing &= ~partial
            coverage = np.where(partial, 1.0, coverage)
            ret = supply - 30
            if self.until is not None:
                # Towards the present the figures drift to the lab meter's; its hours are its.
                age = (self.until.date() - day).days
                w = np.where(hourly, 1.0, float(np.clip(1 - (age - 1) / BLEND_DAYS, 0, 1)))
                power_kw = (1 - w) * power_kw + w * lab_power
                supply = (1 - w) * supply + w * lab_supply
                ret = (1 - w) * ret + w * lab_return
                low, high = (1 - w) * low, (1 - w) * high
                for i in np.flatnonzero(hourly & (rollup_s > 0)):
                    a = starts[z[i]]
                    power_kw[i] = self.lab_kwh(i, a, rollup_end[z[i]]) * 3600 / rollup_s[i]
            ordinal = day.toordinal()
            seeded = ((ordinal < self.first_live) | (ordinal > self.last_live)) & begun[z]
            energy = power_kw * rollup_s / 3600
            # The heat of a day without readings is booked by the next reading, as live
            # ingestion books it; live days end a chain (what they booked is theirs).
            carry = np.where(seeded, carry + energy, 0.0)
            present = seeded & ~missing & (rollup_s > 0)
            counts = np.where(present, np.round(carry / self.res), 0).astype(np.int64)
            carry = carry - counts * self.res
            yield Day(
                day=day, edges=edges, rollup_end=rollup_end, seconds=seconds,
                rollup_s=rollup_s, span_s=span_s, seeded=seeded, present=present,
                hourly=hourly, partial=partial & seeded, counts=counts,
                carry=carry.copy(),
                f={"coverage": coverage, "power_kw": power_kw, "supply": supply, "ret": ret,
                   "flow": power_kw / (K_ROUGH * (supply - ret)), "contract": contract,
                   "low": low, "high": high, "efficiency": efficiency,
                   "nominal_only": nominal_only, "origin": origin},
            )  # fmt: skip

    def _before_totals(self) -> np.ndarray:
        """Register counts booked on the seeded days before each meter's live data."""
        total = np.zeros(self.n, dtype=np.int64)
        for d in self._days():
            total += np.where(d.day.toordinal() < self.first_live, d.counts, 0)
        return total

    def rows(self):
        """Per day: its daily rollups, hourly rollups and electrical days (tuples). Where
        the raw readings start is kept in ``self.tails`` (see ``readings``)."""
        totals = self._before_totals()
        # Cumulative register at the chain's last reading, in counts like the register: on
        # its grid exactly, so a re-run rebuilds the very same numbers.
        cum = np.zeros(self.n, dtype=np.int64)
        reg = np.zeros(self.n, dtype=np.int64)  # the register then, in counts
        in_chain = np.zeros(self.n, dtype=bool)
        for d in self._days():
            before = d.day.toordinal() < self.first_live
            fresh = set()  # chains continuing the live data's state from this day on
            for i in np.flatnonzero(d.seeded & ~in_chain):
                # A chain starts: before live data it ends where live data begins; after it,
                # it continues the meter's state; without live data it starts anywhere.
                p, res = self.pinned[i], self.res[i]
                if p is None:
                    reg[i] = round(d.f["origin"][i] / res)
                    cum[i] = reg[i]
                elif before[i]:
                    cum[i] = round(p.before_cumulative / res) - totals[i]
                    reg[i] = round(p.before_register / res) - totals[i]
                else:
                    cum[i] = round(p.after_cumulative / res)
                    reg[i] = round(p.after_register / res)
                    fresh.add(i)
            in_chain = d.seeded
            heat, hourly, elec = [], [], []
            for i in np.flatnonzero(d.seeded):
                if self.meter[i] is not None:
                    if d.present[i] and d.hourly[i]:
                        hours, day_row = self._hour_rows(i, d, cum, reg)
                        hourly.extend(hours)
                        heat.append(day_row)
                    elif d.present[i]:
                        heat.append(self._day_row(i, d, cum, reg))
                    if d.partial[i] and self.meter[i][0] not in self.tails:
                        # The first seeded day in the raw window: where it starts, or (the
                        # window begins on a live day) from the day's start, after the live data.
                        after_live = i in fresh and not d.present[i]
                        self._readings(i, d, reg, self.pinned[i].after_ts if after_live else None)
                if self.n_nodes[i]:
                    elec.append(self._elec_row(i, d))
            yield heat, hourly, elec

    def _kwh(self, i: int, count: int) -> float:
        return int(count) * self.scale[i]

    def _register(self, i: int, count: int) -> float:
        wrap = self.wrap[i]
        return (count % wrap if wrap else count) * self.scale[i]

    def _bucket(self, i, d, first_ts, length, covered, readings, count, cum, reg, v) -> tuple:
        """One rollup's columns after (meter, site[, day]): its readings every ``POLL_S``
        from ``first_ts``, booking ``count`` register steps, with the figures ``v`` (power,
        supply, return, flow, lowest and highest supply); moves the chain on."""
        first_cum, first_reg = self._kwh(i, cum[i]), self._register(i, int(reg[i]))
        booked = int(count) * self.scale[i]
        cum[i] += count
        reg[i] += count
        last_reg = self._register(i, int(reg[i]))
        r = readings
        power, supply, ret, flow, low, high = v
        ok = covered * float(np.clip(0.5 + (supply - d.f["contract"][i]) / 6.0, 0.0, 1.0))
        last_ts = first_ts + timedelta(seconds=float(length) - POLL_S)
        if d.day.toordinal() > self.last_live[i]:
            # The newest seeded reading of a chain no live reading follows (yet).
            self.latest[self.meter[i][0]] = {
                "last_ts": last_ts, "last_supply_c": supply, "last_return_c": ret,
                "last_flow_m3h": flow, "last_power_kw": power,
                "last_energy_kwh": self._kwh(i, cum[i]), "register_baseline_kwh": last_reg,
                "register_changed_at": last_ts, "rebased": False,
            }  # fmt: skip
        return (
            r, first_ts, last_ts, first_reg, last_reg, first_cum, self._kwh(i, cum[i]),
            booked, power * covered / 3600, covered, ok, covered - ok, low, high,
            supply * r, ret * r, flow * r, power * r,
        )  # fmt: skip

    def _day_row(self, i, d, cum, reg) -> tuple:
        bucket, length = d.edges[self.zone_of[i]][0], float(d.seconds[i])
        covered = float(length * d.f["coverage"][i])
        r = max(int(covered / POLL_S), 1)
        f = {k: float(d.f[k][i]) for k in ("power_kw", "supply", "ret", "flow", "low", "high")}
        v = (f["power_kw"], f["supply"], f["ret"], f["flow"], f["supply"] - f["low"],
             f["supply"] + f["high"])  # fmt: skip
        values = self._bucket(i, d, bucket, length, covered, r, d.counts[i], cum, reg, v)
        return (self.meter[i][0], self.ids[i], d.day, bucket, *values)

    def _lab_hour(self, i, a: datetime, b: datetime) -> tuple[float, tuple]:
        """The lab meter's heat from ``a`` to ``b`` and its figures then: mean power, the
        temperatures halfway and the flow that carries the mean power between them (the flow
        is proportional to the power at given temperatures)."""
        kwh = self.lab_kwh(i, a, b)
        power = kwh * 3600 / (b - a).total_seconds()
        mid = self.lab(i).values(a + (b - a) / 2)
        flow = mid.flow_m3h * power / mid.power_kw if mid.power_kw > 0 else 0.0
        return kwh, (power, mid.supply_c, mid.return_c, flow, mid.supply_c, mid.supply_c)

    def _hour_rows(self, i, d, cum, reg) -> tuple[list[tuple], tuple]:
        """A recent day's hourly rollups (UTC hours, up to the raw window) and the day's
        rollup, their sum: the lab meter's figures, the day's register steps spread over its
        hours as the lab meter's heat is."""
        zone = self.zone_of[i]
        start, end = d.edges[zone][0], d.rollup_end[zone]
        pieces = list(split_interval(start, end, hour_bucket))
        labs = [self._lab_hour(i, a, b) for _, a, b in pieces]
        total, elapsed, done = sum(kwh for kwh, _ in labs), 0.0, 0
        first_cum, first_reg = self._kwh(i, cum[i]), self._register(i, int(reg[i]))
        hours, values = [], []
        for (bucket, a, b), (kwh, figures) in zip(pieces, labs, strict=True):
            length = (b - a).total_seconds()
            elapsed += kwh
            upto = round(int(d.counts[i]) * elapsed / total) if total > 0 else 0
            covered = length * float(d.f["coverage"][i])  # a gap day's gap, spread evenly
            r = max(round(covered / POLL_S), 1)
            if b == self.raw_start[zone]:
                covered -= POLL_S  # the interval to the first raw reading: booked by ingestion
            v = self._bucket(i, d, a, length, covered, r, upto - done, cum, reg, figures)
            done = upto
            values.append(v)
            hours.append((self.meter[i][0], self.ids[i], bucket, *v))
        col = list(zip(*values, strict=True))
        day = (
            sum(col[0]), start, values[-1][2], first_reg, values[-1][4], first_cum,
            self._kwh(i, cum[i]), int(d.counts[i]) * self.scale[i], sum(col[8]), sum(col[9]),
            sum(col[10]), sum(col[11]), min(col[12]), max(col[13]), sum(col[14]),
            sum(col[15]), sum(col[16]), sum(col[17]),
        )  # fmt: skip
        return hours, (self.meter[i][0], self.ids[i], d.day, start, *day)

    def _readings(self, i, d, reg, since: datetime | None) -> None:
        """The raw window is read, not rolled up: what its readings continue from, kept until
        ``readings`` makes them (a fleet's readings never sit in memory). ``since``: the live
        reading they follow directly, if no rollup comes between."""
        self.tails[self.meter[i][0]] = Tail(
            i, d.rollup_end[self.zone_of[i]], float(d.carry[i]), int(reg[i]), since
        )

    def count(self, meter_id: int) -> int:
        """How many readings ``readings`` makes for the meter."""
        t = self.tails[meter_id]
        return max(math.ceil((self.until - t.start).total_seconds() / POLL_S), 0)

    def readings(self, meter_id: int) -> list[MeterReading]:
        """A meter's readings every ``POLL_S`` from the end of its rollups to now: what the
        lab's meter shows then, continuing the register (with the heat not booked yet), ready
        for ingestion."""
        t = self.tails[meter_id]
        sim = self.lab(t.site)
        carry, reg, res = t.carry, t.register, float(self.res[t.site])
        ts, out = t.start, []
        # The first reading books the heat since the chain's previous one (as a meter read
        # again after a pause shows what it counted meanwhile).
        before = sim.energy_total_kwh(t.since or ts - timedelta(seconds=POLL_S))
        while ts < self.until:
            v = sim.values(ts)
            total = sim.energy_total_kwh(ts)
            carry += total - before  # the heat since the previous reading
            before = total
            count = round(carry / res)
            carry -= count * res
            reg += count
            out.append(MeterReading(
                supply_c=v.supply_c, return_c=v.return_c, flow_m3h=v.flow_m3h,
                power_kw=v.power_kw, energy_kwh=self._register(t.site, reg), read_at=ts,
            ))  # fmt: skip
            ts += timedelta(seconds=POLL_S)
        return out

    def _elec_row(self, i, d) -> tuple:
        f, length = d.f, float(d.span_s[i])
        seconds = float(self.n_nodes[i] * length * f["coverage"][i])
        kwh = float(f["power_kw"][i] * length / 3600 / f["efficiency"][i])
        if f["nominal_only"][i]:
            return (self.ids[i], d.day, kwh, 0.0, kwh, 0.0, seconds, seconds)
        return (self.ids[i], d.day, kwh, kwh, 0.0, seconds, 0.0, seconds)

    def states(self) -> dict[int, dict]:
        """Meter states to set: meters whose newest data is now a seeded reading."""
        return self.latest
