"""Central tasks for gateways: thin, named explicitly (gateways send them by name)."""

from __future__ import annotations

from celery import shared_task

from apps.gateways import power, results, wire


@shared_task(name=wire.RESULT_TASK, ignore_result=True, acks_late=True)
def gateway_result_task(document: dict, signature: str) -> str:
    return results.result_receive(document, signature)


@shared_task(name=wire.DEADLINE_TASK, ignore_result=True, acks_late=True)
def gateway_deadline_task(call_id: str) -> bool:
    return power.call_expire(call_id)


@shared_task(ignore_result=True)
def gateway_calls_expire_task() -> int:
    """Beat backstop for the per-call timers (a central worker lost with its ETA tasks)."""
    return power.calls_expire()
