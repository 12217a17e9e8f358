"""Writes for planning: the monthly cache behind year-long comparisons.

``site_months_refresh`` recomputes the ``SiteMonth`` rows of months from the daily rollups,
over the days already settled, with two aggregate statements per month (``INSERT .. SELECT ..
GROUP BY site``, the same SQL on PostgreSQL and SQLite), and stamps ``MonthRefresh`` with the
days covered. Run it daily for the current and the previous month (the Celery task
``site_months_refresh_task`` for the beat schedule, or ``manage.py refresh_site_months``) and
after any backfill of old rollups; days not (yet) cached are read from the rollups.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.hardware.models import ElectricalDaily
from apps.heat.models import DailyRollup

from .models import MonthRefresh, SiteMonth


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


# A day is final once the gap limits (minutes) have passed after its end in every time zone:
# its last local midnight is 12 h after midnight UTC (UTC-12), two hours cover the rest.
SETTLE = timedelta(hours=14)


def settled_until(now: datetime) -> date:
    """The first date not yet settled at ``now``: every earlier date is final everywhere."""
    return (now.astimezone(UTC) - SETTLE).date()


def site_months_refresh(*, months: Iterable[date], now: datetime | None = None) -> int:
    """Recomputes the given months (first days) for every site over their settled days;
    returns the rows written."""
    now = now or timezone.now()
    settled = settled_until(now)
    table = SiteMonth._meta.db_table
    heat = DailyRollup._meta.db_table
    elec = ElectricalDaily._meta.db_table
    written = 0
    for month in sorted(set(months)):
        if month.day != 1:
            raise ValueError(f"{month} is not the first day of a month")
        end = min(next_month(month), settled)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE month = %s", [month])  # noqa: S608
            if end <= month:
                MonthRefresh.objects.filter(month=month).delete()
                continue
            cursor.execute(
                f"INSERT INTO {table} (site_id, month, energy_kwh, energy_power_kwh, covered_s, "  # noqa: S608 - fixed table names
                "supply_ok_s, supply_below_s, readings, supply_sum_c, supply_min_c, "
                "elec_measured_s, elec_nominal_s, elec_covered_s) "
                "SELECT site_id, %s, SUM(energy_kwh), SUM(energy_power_kwh), SUM(covered_s), "
                "SUM(supply_ok_s), SUM(supply_below_s), SUM(readings), SUM(supply_sum_c), "
                f"MIN(supply_min_c), 0, 0, 0 FROM {heat} "
                "WHERE day >= %s AND day < %s GROUP BY site_id",
                [month, month, end],
            )
            written += max(cursor.rowcount, 0)
            cursor.execute(
                f"INSERT INTO {table} (site_id, month, energy_kwh, energy_power_kwh, "  # noqa: S608
                "covered_s, supply_ok_s, supply_below_s, readings, supply_sum_c, elec_kwh, "
                "elec_measured_s, elec_nominal_s, elec_covered_s) "
                "SELECT site_id, %s, 0, 0, 0, 0, 0, 0, 0, SUM(energy_kwh), SUM(measured_s), "
                f"SUM(nominal_s), SUM(covered_s) FROM {elec} "
                "WHERE day >= %s AND day < %s GROUP BY site_id "
                "ON CONFLICT (site_id, month) DO UPDATE SET elec_kwh = excluded.elec_kwh, "
                "elec_measured_s = excluded.elec_measured_s, "
                "elec_nominal_s = excluded.elec_nominal_s, "
                "elec_covered_s = excluded.elec_covered_s",
                [month, month, end],
            )
            MonthRefresh.objects.update_or_create(
                month=month, defaults={"refreshed_at": now, "through": end}
            )
    return written
