"""The Celery app; the beat schedule is declared here and only here."""

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")

app = Celery("heatsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _reset_ipmi_after_fork(**kwargs):
    # pyghmi keeps an IO thread and sockets per process: a forked child must start its own.
    from apps.hardware import pyghmi_compat

    pyghmi_compat.worker_process_init()


@app.on_after_finalize.connect
def setup_periodic_tasks(sender, **kwargs):
    from django.conf import settings

    sender.conf.beat_schedule = {
        name: entry
        for name, entry in {
            "bmc-sweep": {
                "task": "apps.hardware.tasks.bmc_sweep_task",
                "schedule": settings.BMC_POLL_INTERVAL,
            },
            # The BMC logs' newest entries: a chassis opened is alarmed within the interval.
            "bmc-log-sweep": {
                "task": "apps.hardware.tasks.bmc_log_sweep_task",
                "schedule": settings.BMC_LOG_INTERVAL,
            },
            "meter-sweep": {
                "task": "apps.heat.tasks.meter_sweep_task",
                "schedule": settings.METER_POLL_INTERVAL,
            },
            "attestation-sweep": {
                "task": "apps.attestation.tasks.attestation_sweep_task",
                "schedule": settings.ATTESTATION_INTERVAL,
            },
            # Firmware updates a killed worker or a lost message left quiet go back to a worker.
            "firmware-updates-resume": {
                "task": "apps.firmware.tasks.firmware_updates_resume_task",
                "schedule": settings.FIRMWARE_RESUME_INTERVAL,
            },
            # Calls to site gateways past their deadline: the backstop of the per-call timers.
            "gateway-calls-expire": {
                "task": "apps.gateways.tasks.gateway_calls_expire_task",
                "schedule": settings.GATEWAY_EXPIRE_INTERVAL,
            },
            # Running firmware campaigns (and those with nodes in flight) get their next round.
            "campaigns-advance-all": {
                "task": "apps.firmware.tasks.campaigns_advance_all",
                "schedule": settings.CAMPAIGN_ADVANCE_INTERVAL,
            },
            # The planners' monthly cache of settled days (comparisons stay right without it,
            # only slower).
            "site-months-refresh": {
                "task": "apps.planning.tasks.site_months_refresh_task",
                "schedule": crontab(hour=3, minute=30),
            },
            # Power actions of workers that stopped beating go back to the queue.
            "power-orphans": {
                "task": "apps.ops.tasks.power_orphans_task",
                "schedule": settings.POWER_RECOVER_INTERVAL,
            },
            # Partners' monthly statements by e-mail, once the previous month is settled.
            "statement-mail": {
                "task": "apps.mailings.tasks.statement_mail_task",
                "schedule": settings.STATEMENT_MAIL_INTERVAL,
            },
        }.items()
        if entry["task"] in sender.tasks
    }
