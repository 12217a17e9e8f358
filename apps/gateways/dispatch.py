"""Sending to gateways and to the central results queue, on GATEWAY_BROKER_URL (RabbitMQ)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from kombu import Connection, Exchange, Queue

from apps.gateways import wire

RESULTS = Queue(
    wire.RESULTS_QUEUE,
    Exchange(wire.RESULTS_EXCHANGE, "direct"),
    routing_key=wire.RESULTS_QUEUE,
)


def gateway_queue(name: str) -> Queue:
    queue = wire.queue_name(name)
    return Queue(queue, Exchange(queue, "direct"), routing_key=queue)


def _send(name: str, args: list[Any], queue: Queue, **options: Any) -> None:
    from heatsite.celery import app

    with Connection(settings.GATEWAY_BROKER_URL, connect_timeout=10) as connection:
        # the results queue and its exchange exist before any gateway answers into them
        RESULTS.bind(connection.default_channel).declare()
        app.send_task(
            name,
            args=args,
            queue=queue,
            exchange=queue.exchange,
            routing_key=queue.routing_key,
            connection=connection,
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.5, "interval_step": 1},
            **options,
        )


def results_declare() -> None:
    """The central results exchange and queue, before any gateway answers into them."""
    with Connection(settings.GATEWAY_BROKER_URL, connect_timeout=10) as connection:
        RESULTS.bind(connection.default_channel).declare()


def gateway_send(gateway: str, task: str, call: dict[str, Any], *, expires: datetime) -> None:
    """One task on ``gw.<gateway>``; RabbitMQ keeps it (durable) until the gateway takes it,
    and the gateway's Celery drops it unstarted after ``expires``."""
    _send(task, [call], gateway_queue(gateway), expires=expires)


def deadline_send(call_id: str, *, eta: datetime) -> None:
    """The central timer of a call: a task on the central results queue due at ``eta``."""
    _send(wire.DEADLINE_TASK, [call_id], RESULTS, eta=eta)
