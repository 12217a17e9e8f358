"""Counts and times every HTTP request by URL pattern (bounded labels), method and status."""

from __future__ import annotations

import time

from . import metrics


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        metrics.HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)
        metrics.HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()
        return response


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
