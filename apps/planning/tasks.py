"""Celery task for planning: refresh the monthly cache of comparisons."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from . import services


@shared_task
def site_months_refresh_task(months_back: int = 1) -> int:
    """Recomputes the current month and the ``months_back`` before it (daily from beat: a
    comparison then reads at most a day or two of daily rollups per site besides the edge)."""
    month = timezone.localdate().replace(day=1)
    months = [month]
    for _ in range(months_back):
        month = (month - timedelta(days=1)).replace(day=1)
        months.append(month)
    return services.site_months_refresh(months=months)
