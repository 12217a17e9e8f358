"""Queue depths, read from the broker at scrape time (Redis or RabbitMQ, through kombu)."""

from __future__ import annotations

import logging

from django.conf import settings
from kombu import Connection
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)


def queue_names() -> dict[str, list[str]]:
    """Queues to report, by broker URL: the central ones on the Celery broker; the results
    queue and one per active site gateway on the gateways' broker (RabbitMQ)."""
    from heatsite.celery import app

    central = {app.conf.task_default_queue or "celery"}
    central.update(q.name for q in (app.conf.task_queues or ()))
    out = {settings.CELERY_BROKER_URL: central}
    try:
        from apps.gateways import wire
        from apps.gateways.models import Gateway
    except ImportError:  # an installation without gateways
        return {url: sorted(names) for url, names in out.items()}
    names = [
        wire.queue_name(n)
        for n in Gateway.objects.filter(status=Gateway.Status.ACTIVE).values_list("name", flat=True)
    ]
    if names:
        gateways = out.setdefault(settings.GATEWAY_BROKER_URL, set())
        gateways.update([wire.RESULTS_QUEUE, *names])
    return {url: sorted(names) for url, names in out.items()}


def depths(names: list[str], url: str) -> dict[str, int]:
    """Messages waiting per queue; a queue the broker does not know is left out."""
    out = {}
    with Connection(url, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1)
        channel = conn.default_channel
        for name in names:
            try:
                out[name] = channel.queue_declare(queue=name, passive=True).message_count
            except Exception:  # not declared (yet): no depth to report
                channel = conn.channel()
    return out


class QueueDepthCollector:
    """``heatsite_queue_depth{queue=…}``; ``heatsite_broker_up`` says whether the read worked."""

    def collect(self):
        up = GaugeMetricFamily("heatsite_broker_up", "1 when the broker answered this scrape")
        depth = GaugeMetricFamily(
            "heatsite_queue_depth", "Messages waiting in a Celery queue", labels=["queue"]
        )
        try:
            found = {}
            for url, names in queue_names().items():
                found.update(depths(names, url))
        except Exception as exc:
            log.warning("queue depths unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            for name, count in found.items():
                depth.add_metric([name], count)
        yield up
        yield depth
