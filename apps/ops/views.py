"""/healthz (the process answers), /readyz (it can serve: database, cache, broker), /metrics."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from . import health, metrics
from .queues import QueueDepthCollector


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = health.readiness()
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks},
                        status=200 if ready else 503)  # fmt: skip


def _allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net) for net in settings.METRICS_ALLOWED_NETS)


@never_cache
@require_GET
def prometheus(request: HttpRequest) -> HttpResponse:
    """The scrape endpoint, for the monitoring network only (``METRICS_ALLOWED_NETS``)."""
    if not _allowed(request.META.get("REMOTE_ADDR", "")):
        return HttpResponse(
            "metrics are served to METRICS_ALLOWED_NETS only\n", status=403,
            content_type="text/plain",
        )  # fmt: skip
    body = metrics.exposition(extra=[QueueDepthCollector()])
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
