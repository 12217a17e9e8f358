"""The monthly cache (``SiteMonth``): the same figures as the days, for settled days only."""

from datetime import UTC, date, datetime

import pytest

from apps.heat.models import DailyRollup
from apps.planning import selectors, services
from apps.planning.models import MonthRefresh, SiteMonth
from apps.planning.selectors import Period
from apps.sites.models import Site

pytestmark = pytest.mark.django_db
MARCH = date(2026, 3, 1)
SPAN = Period(date(2026, 2, 1), date(2026, 4, 1))  # previous period: December and January
LATER = datetime(2026, 4, 20, tzinfo=UTC)
NUMERIC = [n for n in selectors.FIELD_NAMES if n not in ("latitude", "longitude")]


def figures(period=SPAN):
    rows = selectors.compare_sites(sites=Site.objects.all(), period=period, now=LATER).rows
    return {r.code: {n: getattr(r, n) for n in NUMERIC} for r in rows}


def assert_same(a, b):
    for code, values in a.items():
        for name, value in values.items():
            expected = pytest.approx(value) if isinstance(value, float) else value
            assert b[code][name] == expected, (code, name)


def test_a_refreshed_month_gives_the_same_figures_as_its_days(fleet):
    from_days = figures()
    written = services.site_months_refresh(months=[MARCH], now=LATER)
    assert written == 3  # the three sites with heat rollups
    assert SiteMonth.objects.filter(month=MARCH).count() == 3  # electricity merged in place
    assert MonthRefresh.objects.get(month=MARCH).through == date(2026, 4, 1)
    assert_same(from_days, figures())
    # proof the cache is read: without the days, March still adds up
    DailyRollup.objects.filter(day__gte=MARCH).delete()
    assert_same(from_days, figures())


def test_only_settled_days_are_cached_and_the_rest_read_from_the_days(fleet):
    from_days = figures()
    # 20:00 UTC on 3 March: 2 March ended 14 h ago at most everywhere, 3 March not yet
    services.site_months_refresh(months=[MARCH], now=datetime(2026, 3, 3, 20, tzinfo=UTC))
    assert MonthRefresh.objects.get(month=MARCH).through == date(2026, 3, 3)
    DailyRollup.objects.filter(day__gte=MARCH, day__lt=date(2026, 3, 3)).delete()
    assert_same(from_days, figures())  # 1-2 March cached, 3 March onwards from the rollups


def test_a_cached_month_reaching_past_the_period_is_not_used(fleet):
    services.site_months_refresh(months=[MARCH], now=LATER)
    inside = Period(date(2026, 3, 2), date(2026, 3, 4))  # the cache starts before, ends after
    assert figures(inside)["lyo-0001"]["heat_mwh"] == pytest.approx(2.88)


def test_nothing_settled_caches_nothing_and_refreshing_again_replaces_the_month(fleet):
    services.site_months_refresh(months=[MARCH], now=datetime(2026, 3, 1, 10, tzinfo=UTC))
    assert not MonthRefresh.objects.exists() and not SiteMonth.objects.exists()
    services.site_months_refresh(months=[MARCH], now=LATER)
    DailyRollup.objects.filter(site__code="par-0002").delete()
    services.site_months_refresh(months=[MARCH], now=LATER)
    gappy = SiteMonth.objects.get(site__code="par-0002")  # only its electricity is left
    assert (gappy.readings, gappy.energy_kwh, gappy.elec_kwh) == (0, 0, 1000)
    assert SiteMonth.objects.count() == 3
    with pytest.raises(ValueError, match="not the first day"):
        services.site_months_refresh(months=[date(2026, 3, 2)])
