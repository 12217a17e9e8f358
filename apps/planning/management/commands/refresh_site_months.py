"""Recompute the monthly comparison cache: ``manage.py refresh_site_months [--all | --months N]``.

``--all`` covers every month with daily rollups (after a seed or a backfill); ``--months N``
the current month and the N-1 before it (default 2). Only settled days are cached.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max, Min
from django.utils import timezone

from apps.heat.models import DailyRollup
from apps.planning.services import next_month, site_months_refresh


class Command(BaseCommand):
    help = "Recomputes SiteMonth rows (the monthly cache of comparisons) from daily rollups."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true")
        parser.add_argument("--months", type=int, default=2)

    def handle(self, *args, all, months, **options):
        if months < 1:
            raise CommandError("--months must be at least 1")
        this_month = timezone.localdate().replace(day=1)
        if all:
            span = DailyRollup.objects.aggregate(a=Min("day"), b=Max("day"))
            if span["a"] is None:
                self.stdout.write("no daily rollups")
                return
            wanted, month = [], span["a"].replace(day=1)
            while month <= span["b"]:
                wanted.append(month)
                month = next_month(month)
        else:
            wanted, month = [this_month], this_month
            for _ in range(months - 1):
                month = (month - timedelta(days=1)).replace(day=1)
                wanted.append(month)
        started = time.perf_counter()
        rows = site_months_refresh(months=wanted)
        took = time.perf_counter() - started
        self.stdout.write(f"{len(wanted)} months, {rows} site-months in {took:.1f} s")
