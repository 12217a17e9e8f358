"""Queue depths, read from the broker at scrape time (Redis or RabbitMQ, through kombu)."""

from __future__ import annotations

import logging

from django.conf import settings
from kombu import Connection
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)


def queue_names() -> list[str]:
    """The central queues, and one per enrolled site gateway when there are gateways."""
    from heatsite.celery import app

    names = {app.conf.task_default_queue or "celery"}
    names.update(q.name for q in (app.conf.task_queues or ()))
    names.update(getattr(settings, "METRICS_EXTRA_QUEUES", ()))
    try:
        from apps.gateways.models import Gateway
    except ImportError:  # an installation without gateways
        return sorted(names)
    queue = getattr(Gateway, "queue_name", None)
    if callable(queue):
        names.update(gw.queue_name() for gw in Gateway.objects.all())
    return sorted(names)


def depths(names: list[str]) -> dict[str, int]:
    """Messages waiting per queue; a queue the broker does not know is left out."""
    out = {}
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1)
        channel = conn.default_channel
        for name in names:
            try:
                out[name] = channel.queue_declare(queue=name, passive=True).message_count
            except Exception:
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
            found = depths(queue_names())
        except Exception as exc:
            log.warning("queue depths unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            for name, count in found.items():
                depth.add_metric([name], count)
        yield up
        yield depth
