"""Celery tasks for firmware updates: thin wrappers that reload by id and call one service."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.firmware import campaign_run, services, tracking

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def firmware_update_advance_task(self, update_id: int) -> str | None:
    """One step of an update, acknowledged only once done (a killed worker's step is
    redelivered; `tracking` decides what may run again), then the next step is scheduled with
    the delay the BMC asked for (bounded)."""
    step = tracking.firmware_update_advance(update_id)
    if step.retry_in is not None and not self.app.conf.task_always_eager:
        # Eager mode ignores countdowns: chaining would spin; the resume sweep takes over.
        firmware_update_advance_task.apply_async((update_id,), countdown=step.retry_in)
    return step.update.state if step.update else None


@shared_task(ignore_result=True)
def firmware_updates_resume_task() -> int:
    """Beat entry point: updates left quiet by a killed worker or a lost message go back to a
    worker."""
    ids = tracking.firmware_updates_resume()
    for update_id in ids:
        services.firmware_update_enqueue(update_id)
    if ids:
        logger.info("firmware updates resumed: %s", ids)
    return len(ids)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def campaign_advance(campaign_id: int) -> str | None:
    """One executor round of a campaign (`campaign_run.campaign_advance`), acknowledged once
    done: a killed worker's round is redelivered, and every step it runs is idempotent."""
    return campaign_run.campaign_advance(campaign_id)


@shared_task(ignore_result=True)
def campaigns_advance_all() -> int:
    """Beat entry point: every live campaign gets a round. The state is in the database, so a
    restarted beat or worker resumes running campaigns where they were."""
    ids = campaign_run.campaigns_live()
    for campaign_id in ids:
        campaign_advance.delay(campaign_id)
    return len(ids)
