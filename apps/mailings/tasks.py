from celery import shared_task

from . import services


@shared_task(ignore_result=True, acks_late=True)
def statement_mail_task() -> dict:
    """The previous month's statement e-mails, once it is settled (hourly; idempotent)."""
    outcome = services.send_due()
    return {"created": outcome.created, "sent": outcome.sent, "failed": outcome.failed}
