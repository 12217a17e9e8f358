"""The comparison engine: figures of many sites over a period, from the daily rollups.

Time convention: a period is a range of calendar *dates* ``[start, end)`` (end exclusive). For
each site, a date means that site's own local day, exactly as ``heat.DailyRollup.day`` and
``hardware.ElectricalDaily.day`` book it; so "January" is each site's local January, and a
site in Helsinki and one in Paris are compared over their own local days. "Last 7 days" are
the 7 dates before today in the operator's time zone (``settings.TIME_ZONE``), today excluded
because it is not over. Period lengths used for coverage and utilisation are the real lengths of
those local days (23 or 25 h on DST days), clipped at ``now`` for a period reaching the future.

Every figure is aggregate SQL (``GROUP BY site``) over the daily rollups, or over their monthly
cache (``SiteMonth``, settled days only) for the months it covers: a fixed number of queries
whatever the number of sites (see ``compare_sites``). Definitions:

* heat delivered: the register energy of the rollups (billing truth), MWh_th;
* average supply: reading-weighted mean of the supply temperature; minimum: lowest reading;
* hours at/above contract: covered time with supply >= the contracted minimum; as a share of
  the period (gaps count as not proven) in ``contract_pct``;
* availability: time at/above contract / covered time (the site page's definition); these
  three are unknown (None) for a site without covered time in the period;
* electrical energy: ``ElectricalDaily`` (BMC power integrated by the sweep, or nominal power x
  powered-on time) with its source: measured, nominal or mixed;
* heat recovery efficiency: heat delivered / electricity consumed;
* utilisation: heat delivered / (nominal thermal capacity x period length);
* CO2 avoided: heat delivered x the site's factor (kg/MWh_th of the displaced source);
* coverage: covered seconds / (period length x heat meters read in parallel);
* trend: heat delivered against the period of the same length just before, in %.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from apps.hardware.models import ElectricalDaily, energy_source
from apps.heat.models import DailyRollup
from apps.sites.models import HeatMeter, Node, Site

from .models import MonthRefresh, SiteMonth

MAX_PERIOD_DAYS = 3660
MAX_SERIES_SITES = 12
FEW_SITES = 2000


class CompareError(ValueError):
    """Bad comparison parameters (reversed or unbounded period, unknown column or site...).

    The message is the reason, fit for a 400.
    """


@dataclass(frozen=True)
class Period:
    """Calendar dates ``[start, end)``; each site reads them as its own local days."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise CompareError(
                gettext("end (%(end)s) must be after start (%(start)s)")
                % {"end": self.end, "start": self.start}
            )
        if (self.end - self.start).days > MAX_PERIOD_DAYS:
            raise CompareError(
                gettext("a period is limited to %(days)s days") % {"days": MAX_PERIOD_DAYS}
            )

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def previous(self) -> Period:
        """The period of the same number of days just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start)

    def seconds(self, tz: zoneinfo.ZoneInfo, now: datetime) -> float:
        """Length in seconds of these local days in ``tz``, clipped at ``now``."""
        a = datetime(self.start.year, self.start.month, self.start.day, tzinfo=tz)
        b = datetime(self.end.year, self.end.month, self.end.day, tzinfo=tz)
        return max((min(b.astimezone(UTC), now) - a.astimezone(UTC)).total_seconds(), 0.0)

    def __str__(self) -> str:
        last = self.end - timedelta(days=1)
        return f"{self.start.isoformat()} – {last.isoformat()}"


def last_days(n: int, now: datetime | None = None) -> Period:
    """The ``n`` whole days before today (operator's time zone)."""
    today = timezone.localdate(now or timezone.now())
    return Period(today - timedelta(days=n), today)


def month_period(year: int, month: int) -> Period:
    if not 2000 <= year <= 2200 or not 1 <= month <= 12:
        raise CompareError(gettext("impossible month %(month)s") % {"month": f"{year}-{month:02d}"})
    return Period(date(year, month, 1), date(year + (month == 12), month % 12 + 1, 1))


@dataclass(frozen=True)
class Column:
    """A figure of the comparison table: key in ``SiteFigures``, label, unit, decimals."""

    key: str
    label: str
    unit: str = ""
    decimals: int = 1
    numeric: bool = True

    @property
    def title(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def heading(self) -> str:
        """The title in the reader's language (pages and charts; the API keeps ``title``)."""
        label = gettext(self.label)
        return f"{label} ({gettext(self.unit)})" if self.unit else label


COLUMNS: tuple[Column, ...] = (
    Column("heat_mwh", gettext_noop("Heat delivered"), "MWh_th", 2),
    Column("supply_avg_c", gettext_noop("Avg supply"), "°C", 1),
    Column("supply_min_c", gettext_noop("Min supply"), "°C", 1),
    Column("hours_at_contract", gettext_noop("Hours at/above contract"), "h", 0),
    Column("contract_pct", gettext_noop("At/above contract"), gettext_noop("% of period"), 1),
    Column("availability_pct", gettext_noop("Heat availability"), "%", 1),
    Column("electrical_mwh", gettext_noop("Electrical energy"), "MWh_e", 2),
    Column("electrical_source", gettext_noop("Electricity source"), numeric=False),
    Column("efficiency_pct", gettext_noop("Heat recovery efficiency"), "%", 1),
    Column("nodes", gettext_noop("Nodes"), "", 0),
    Column("nominal_kw", gettext_noop("Nominal capacity"), "kW_th", 1),
    Column("utilisation_pct", gettext_noop("Utilisation"), "%", 1),
    Column("co2_avoided_t", gettext_noop("CO₂ avoided"), "t", 2),
    Column("coverage_pct", gettext_noop("Data coverage"), "%", 1),
    Column("trend_pct", gettext_noop("Trend vs previous period"), "%", 1),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
NUMERIC_KEYS = tuple(c.key for c in COLUMNS if c.numeric)
SORT_KEYS = ("code", "name", "partner", "region", *NUMERIC_KEYS)


@dataclass
class SiteFigures:
    """One row of the comparison: one site over one period."""

    id: int
    code: str
    name: str
    partner: str
    heat_network: str
    region: str
    status: str
    timezone: str
    latitude: float | None
    longitude: float | None
    contract_min_supply_c: float
    co2_factor_kg_per_mwh: float
    heat_mwh: float | None
    heat_power_mwh: float | None
    supply_avg_c: float | None
    supply_min_c: float | None
    hours_at_contract: float | None
    contract_pct: float | None
    availability_pct: float | None
    electrical_mwh: float | None
    electrical_source: str | None
    electrical_coverage_pct: float | None
    efficiency_pct: float | None
    nodes: int
    nominal_kw: float
    utilisation_pct: float | None
    co2_avoided_t: float | None
    coverage_pct: float | None
    heat_previous_mwh: float | None
    trend_pct: float | None

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies, 10x slower on a 10,000-row table.
        return {name: getattr(self, name) for name in FIELD_NAMES}


FIELD_NAMES = tuple(f.name for f in fields(SiteFigures))


@dataclass
class Comparison:
    """The rows of a comparison and the period they cover."""

    period: Period
    rows: list[SiteFigures]


def _ratio(num: float | None, den: float | None, scale: float = 100.0) -> float | None:
    if num is None or not den:
        return None
    return num / den * scale


def _next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def _cached(period: Period, prev: Period) -> dict[date, date]:
    """Months of the monthly cache that start inside either period -> the day after the last
    day they cover (one query)."""
    first = prev.start if prev.start.day == 1 else _next_month(prev.start.replace(day=1))
    return dict(
        MonthRefresh.objects.filter(month__gte=first, month__lt=period.end).values_list(
            "month", "through"
        )
    )


def _split(period: Period, cached: dict[date, date]) -> tuple[list[date], list[tuple[date, date]]]:
    """Cached months whose days lie inside the period, and the day ranges of the rest of it."""
    months, ranges, cursor = [], [], period.start
    for month in sorted(cached):
        through = cached[month]
        if month < period.start or through > period.end:
            continue
        if cursor < month:
            ranges.append((cursor, month))
        months.append(month)
        cursor = through
    if cursor < period.end:
        ranges.append((cursor, period.end))
    return months, ranges


def _in(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def _ranges(ranges: Sequence[tuple[date, date]]) -> tuple[str, list[Any]]:
    if not ranges:
        return "1 = 0", []
    sql = " OR ".join(["(day >= %s AND day < %s)"] * len(ranges))
    return f"({sql})", [d for r in ranges for d in r]


def _cur(flag: str, expr: str) -> str:
    return f"SUM(CASE WHEN {flag} THEN {expr} END)"


def _sums(
    sites: QuerySet[Site], site_ids: Sequence[int], period: Period
) -> tuple[dict[int, Any], dict[int, Any]]:
    """Heat (this period and the previous one) and electrical sums per site, two queries.

    Each is one ``GROUP BY site_id`` over a ``UNION ALL`` of the monthly cache (settled whole
    months) and the daily rows (the other days), so every sum is done by the database. Raw
    SQL: the ORM cannot group a union, and Django's per-value converters cost more than the
    query itself on 10,000 rows. Heat rows: (site, energy, energy_power, covered, ok, below,
    readings, supply_sum, supply_min, energy_prev, readings_prev); electrical rows: (site,
    energy, measured_s, nominal_s, covered).
    """
    prev = period.previous
    cached = _cached(period, prev)
    cur_months, cur_days = _split(period, cached)
    prev_months, prev_days = _split(prev, cached)
    if len(site_ids) <= FEW_SITES:
        # A real list tells the planner how few sites it is: index probes per site.
        in_sites = f"site_id IN ({', '.join(['%s'] * len(site_ids)) or 'NULL'})"
        ids_params = list(site_ids)
    else:
        # Many: the access-checked queryset as a subquery, joined by hash (a 10,000-element
        # list is slower to match than the join).
        ids_sql, ids_params = sites.order_by().values("pk").query.sql_with_params()
        in_sites = f"site_id IN ({ids_sql})"
    month_in, month_params = _in("month", [*cur_months, *prev_months])
    days_in, days_params = _ranges([*cur_days, *prev_days])
    cur_month_in, cur_month_params = _in("month", cur_months)
    cur_days_in, cur_days_params = _ranges(cur_days)
    start = period.start
    # Only table names, column lists and placeholders are formatted in; values are parameters.
    # Each branch sums per (site, this period or the previous one) first: plain SUMs are
    # cheaper than conditional ones over every row; the outer query folds a few rows per site.
    heat_sql = (
        f"SELECT site_id, {_cur('cur', 'e')}, {_cur('cur', 'ep')}, {_cur('cur', 'cov')}, "  # noqa: S608
        f"{_cur('cur', 'ok')}, {_cur('cur', 'below')}, {_cur('cur', 'n')}, {_cur('cur', 'ss')}, "
        "MIN(CASE WHEN cur THEN smin END), "
        f"{_cur('NOT cur', 'e')}, {_cur('NOT cur', 'n')} FROM ("
        "SELECT site_id, month >= %s AS cur, SUM(energy_kwh) AS e, SUM(energy_power_kwh) AS ep, "
        "SUM(covered_s) AS cov, SUM(supply_ok_s) AS ok, SUM(supply_below_s) AS below, "
        "SUM(readings) AS n, SUM(supply_sum_c) AS ss, MIN(supply_min_c) AS smin "
        f"FROM {SiteMonth._meta.db_table} WHERE {month_in} AND {in_sites} "
        "GROUP BY site_id, month >= %s "
        "UNION ALL "
        "SELECT site_id, day >= %s, SUM(energy_kwh), SUM(energy_power_kwh), SUM(covered_s), "
        "SUM(supply_ok_s), SUM(supply_below_s), SUM(readings), SUM(supply_sum_c), "
        f"MIN(supply_min_c) FROM {DailyRollup._meta.db_table} "
        f"WHERE {days_in} AND {in_sites} GROUP BY site_id, day >= %s"
        ") u GROUP BY site_id"
    )
    heat_params = [start, *month_params, *ids_params, start]
    heat_params += [start, *days_params, *ids_params, start]
    elec_sql = (
        "SELECT site_id, SUM(e), SUM(ms), SUM(ns), SUM(cov) FROM ("  # noqa: S608
        "SELECT site_id, elec_kwh AS e, elec_measured_s AS ms, elec_nominal_s AS ns, "
        f"elec_covered_s AS cov FROM {SiteMonth._meta.db_table} "
        f"WHERE elec_kwh IS NOT NULL AND {cur_month_in} AND {in_sites} "
        "UNION ALL "
        "SELECT site_id, energy_kwh, measured_s, nominal_s, covered_s "
        f"FROM {ElectricalDaily._meta.db_table} WHERE {cur_days_in} AND {in_sites}"
        ") u GROUP BY site_id"
    )
    elec_params = [*cur_month_params, *ids_params, *cur_days_params, *ids_params]
    with connection.cursor() as cursor:
        cursor.execute(heat_sql, heat_params)
        heat = {row[0]: row for row in cursor.fetchall()}
        cursor.execute(elec_sql, elec_params)
        elec = {row[0]: row for row in cursor.fetchall()}
    return heat, elec


def _nodes(site_ids: Any) -> dict[int, int]:
    rows = (
        Node.objects.filter(site_id__in=site_ids)
        .exclude(status=Node.Status.RETIRED)
        .values("site_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {r["site_id"]: r["n"] for r in rows}


def _meters_in_parallel(site_ids: Any, start: datetime, end: datetime) -> dict[int, int]:
    """Heat meters read in parallel per site (as ``heat.selectors``): usually 1, so the
    interval sweep only runs for the few sites with more than one meter in the period."""
    overlap = (Q(installed_at__isnull=True) | Q(installed_at__lt=end)) & (
        Q(removed_at__isnull=True) | Q(removed_at__gt=start)
    )
    meters = HeatMeter.objects.filter(overlap, site_id__in=site_ids)
    counts = dict(meters.values("site_id").annotate(n=Count("id")).values_list("site_id", "n"))
    several = [s for s, n in counts.items() if n > 1]
    if several:
        events: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
        for site_id, a, b in meters.filter(site_id__in=several).values_list(
            "site_id", "installed_at", "removed_at"
        ):
            events[site_id] += [(max(a or start, start), 1), (min(b or end, end), -1)]
        for site_id, evs in events.items():
            best = current = 0
            for _, delta in sorted(evs):
                current += delta
                best = max(best, current)
            counts[site_id] = max(best, 1)
    return counts


def compare_sites(
    *, sites: QuerySet[Site], period: Period, now: datetime | None = None
) -> Comparison:
    """Figures of every site of ``sites`` over ``period``, one row per site, ordered by code.

    At most seven queries whatever the number of sites: the sites, the nodes per site, the
    months of the monthly cache, heat sums and
    electrical sums (each one GROUP BY over the monthly cache plus the daily rows of the other
    days, see ``_sums``), the heat meters per site, and one more only when some site had
    several meters in parallel. ``sites`` is the caller's access-checked queryset; the sums
    filter by its ids (up to ``FEW_SITES``) or use it as a subquery.
    """
    now = now or timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # JIT compiles these aggregates for ~150 ms to save a few: off for this transaction.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        return _compare(sites, period, now)


def _compare(sites: QuerySet[Site], period: Period, now: datetime) -> Comparison:
    ids = sites.order_by().values("pk")
    sql, params = (
        sites.order_by("code")
        .values_list(
            "id",
            "code",
            "name",
            "partner__name",
            "heat_network",
            "region",
            "status",
            "timezone",
            "latitude",
            "longitude",
            "contract_min_supply_c",
            "co2_factor_kg_per_mwh",
            "nominal_capacity_kw",
        )
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:  # raw: no per-value converters on 10,000 rows
        cursor.execute(sql, params)
        site_rows = cursor.fetchall()
    nodes = _nodes(ids)
    heat, elec = _sums(sites, [row[0] for row in site_rows], period)
    utc_start = datetime.combine(period.start, datetime.min.time(), UTC) - timedelta(days=1)
    utc_end = datetime.combine(period.end, datetime.min.time(), UTC) + timedelta(days=1)
    # Widened by a day: local midnights of every time zone fall inside.
    meters = _meters_in_parallel(ids, utc_start, utc_end)
    spans: dict[str, tuple[float, float]] = {}
    rows = []
    for s in site_rows:
        tz_name = s[7]
        if tz_name not in spans:
            tz = zoneinfo.ZoneInfo(tz_name)
            spans[tz_name] = (period.seconds(tz, now), period.previous.seconds(tz, now))
        span, _ = spans[tz_name]
        rows.append(_row(s, heat.get(s[0]), elec.get(s[0]), nodes, meters, span))
    return Comparison(period=period, rows=rows)


def _row(
    s: Sequence[Any],
    h: Sequence[Any] | None,
    e: Sequence[Any] | None,
    nodes: dict[int, int],
    meters: dict[int, int],
    span: float,
) -> SiteFigures:
    """One site's figures from its row and its sums (tuples, see ``_sums``)."""
    site_id, code, name, partner, network, region, status, tz, lat, lon, contract, factor, kw = s
    has_heat = bool(h and h[6])
    energy = (h[1] or 0.0) if h and has_heat else None
    covered = (h[3] or 0.0) if h else 0.0
    ok = (h[4] or 0.0) if h else 0.0
    prev = (h[9] or 0.0) if h and h[10] else None
    elec_kwh = e[1] if e else None
    nominal_kw = float(kw or 0)
    factor = float(factor)
    heat_mwh = energy / 1000 if energy is not None else None
    n_nodes = nodes.get(site_id, 0)
    return SiteFigures(
        id=site_id,
        code=code,
        name=name,
        partner=partner,
        heat_network=network,
        region=region,
        status=status,
        timezone=tz,
        latitude=float(lat) if lat is not None else None,
        longitude=float(lon) if lon is not None else None,
        contract_min_supply_c=float(contract),
        co2_factor_kg_per_mwh=factor,
        heat_mwh=heat_mwh,
        heat_power_mwh=(h[2] or 0.0) / 1000 if h and has_heat else None,
        supply_avg_c=h[7] / float(h[6]) if h and has_heat else None,  # SUM(int): Decimal on PG
        supply_min_c=h[8] if h and has_heat else None,
        # No covered time proves nothing either way: unknown, as on the site page.
        hours_at_contract=ok / 3600 if covered else None,
        contract_pct=_ratio(ok, span) if covered else None,
        availability_pct=_ratio(ok, covered),
        electrical_mwh=elec_kwh / 1000 if elec_kwh is not None else None,
        electrical_source=energy_source(e[2], e[3]) if e else None,
        electrical_coverage_pct=_ratio(e[4] if e else None, span * n_nodes),
        efficiency_pct=_ratio(energy, elec_kwh),
        nodes=n_nodes,
        nominal_kw=nominal_kw,
        utilisation_pct=_ratio(energy, nominal_kw * span / 3600),
        co2_avoided_t=heat_mwh * factor / 1000 if heat_mwh is not None else None,
        coverage_pct=_ratio(covered, span * meters.get(site_id, 1)) if span else None,
        heat_previous_mwh=prev / 1000 if prev is not None else None,
        trend_pct=_ratio(energy - prev, prev) if energy is not None and prev else None,
    )


def sort_rows(rows: Sequence[SiteFigures], key: str, descending: bool) -> list[SiteFigures]:
    """Rows sorted by a column; missing values last in either direction, then by code."""
    if key not in SORT_KEYS:
        raise CompareError(gettext("unknown sort column %(key)r") % {"key": key})
    present = [r for r in rows if getattr(r, key) is not None]
    missing = [r for r in rows if getattr(r, key) is None]
    present.sort(key=lambda r: r.code)
    present.sort(key=lambda r: getattr(r, key), reverse=descending)
    return present + sorted(missing, key=lambda r: r.code)


SERIES_METRICS = {
    "heat_mwh": gettext_noop("Heat delivered (MWh_th per day)"),
    "supply_avg_c": gettext_noop("Average supply (°C)"),
    "coverage_pct": gettext_noop("Data coverage (%)"),
    "efficiency_pct": gettext_noop("Heat recovery efficiency (%)"),
    "electrical_mwh": gettext_noop("Electrical energy (MWh_e per day)"),
}


def compare_series(
    *, site_ids: Iterable[int], period: Period, metric: str
) -> dict[int, list[tuple[date, float | None]]]:
    """Daily values of one metric for a few sites: every date of the period, ``None`` where a
    site has no rollup (gaps stay gaps). Two GROUP BY (site, day) queries at most."""
    if metric not in SERIES_METRICS:
        raise CompareError(
            gettext("unknown series metric %(metric)r: use %(metrics)s")
            % {"metric": metric, "metrics": ", ".join(SERIES_METRICS)}
        )
    ids = list(site_ids)
    if len(ids) > MAX_SERIES_SITES:
        raise CompareError(
            gettext("at most %(count)s sites in a time series") % {"count": MAX_SERIES_SITES}
        )
    in_period = Q(site_id__in=ids, day__gte=period.start, day__lt=period.end)
    values: dict[tuple[int, date], float | None] = {}
    if metric != "electrical_mwh":
        heat = (
            DailyRollup.objects.filter(in_period)
            .values("site_id", "day")
            .annotate(
                energy=Sum("energy_kwh"),
                covered=Sum("covered_s"),
                n=Sum("readings"),
                supply_sum=Sum("supply_sum_c"),
            )
            .order_by()
        )
        for r in heat:
            k = (r["site_id"], r["day"])
            if metric == "heat_mwh":
                values[k] = r["energy"] / 1000
            elif metric == "supply_avg_c":
                values[k] = r["supply_sum"] / r["n"] if r["n"] else None
            elif metric == "coverage_pct":
                values[k] = min(r["covered"] / 864, 100.0)  # of a 24 h day
            else:
                values[k] = r["energy"]
    if metric in ("efficiency_pct", "electrical_mwh"):
        elec = {
            (site_id, day): kwh
            for site_id, day, kwh in ElectricalDaily.objects.filter(in_period).values_list(
                "site_id", "day", "energy_kwh"
            )
        }
        if metric == "electrical_mwh":
            values = {k: v / 1000 for k, v in elec.items()}
        else:
            values = {k: _ratio(v, elec.get(k)) for k, v in values.items()}
    days = [period.start + timedelta(days=i) for i in range(period.days)]
    return {sid: [(d, values.get((sid, d))) for d in days] for sid in ids}
