from celery import shared_task


@shared_task(ignore_result=True)
def power_orphans_task() -> int:
    """Power actions of dead workers back to the queue (apps.hardware.recovery)."""
    from apps.hardware.recovery import power_orphans_redispatch

    return len(power_orphans_redispatch())
