"""The monthly mail through a real Celery worker: two runs and a worker restart in between send
each contact the month once (messages counted in a file mail backend both processes write to)."""

import os
import uuid

import pytest
from django.utils import timezone

from apps.mailings.models import PartnerContact, StatementMailing
from apps.mailings.services import previous_month
from apps.mailings.tasks import statement_mail_task
from apps.sites.models import HeatMeter
from tests.celery_worker import WORKER_OWN_QUEUE as WORKER
from tests.celery_worker import celery_worker, database_url, wait_for
from tests.mailings.conftest import month_of_readings

QUEUE = f"heatsite-test-mail-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@pytest.mark.django_db(transaction=True)
def test_two_runs_and_a_worker_restart_send_each_contact_once(
    tmp_path, django_db_blocker, reseau_site, contacts
):
    month = previous_month(timezone.now())
    meter = HeatMeter.objects.create(site=reseau_site, serial="HM-w", host="127.0.0.1")
    month_of_readings(meter, month.year, month.month)
    outbox = tmp_path / "mail"
    outbox.mkdir()
    env = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(outbox),
    }
    url = database_url()
    with celery_worker(WORKER, QUEUE, database=url, env=env):
        statement_mail_task.apply_async(queue=QUEUE)
        wait_for(lambda: StatementMailing.objects.filter(state="sent").count() == 3, "3 sent")
    # A new worker process: the rows, not the process's memory, say what was sent. Its child
    # runs one task at a time, in order: a contact added after a run and seen served by the
    # next one proves the run before it finished.
    with celery_worker(WORKER, QUEUE, database=url, env=env):
        for name in ("late", "later"):
            statement_mail_task.apply_async(queue=QUEUE)  # nothing new for the first three
            add_contact(reseau_site.partner, name)
            statement_mail_task.apply_async(queue=QUEUE)
            wait_for(lambda n=name: sent(f"{n}@rcu.example"), f"{name}'s e-mail")
    files = list(outbox.iterdir())
    recipients = sorted(line.split(": ", 1)[1] for f in files for line in f.read_text().splitlines()
                        if line.startswith("To: "))  # fmt: skip
    assert recipients == [
        "claire@rcu.example", "late@rcu.example", "later@rcu.example", "nadia@ecn.example",
        "tom@rcu.example",
    ]  # fmt: skip


def add_contact(organisation, name):
    PartnerContact.objects.create(organisation=organisation, name=name, email=f"{name}@rcu.example")


def sent(email):
    return StatementMailing.objects.filter(email=email, state="sent").exists()
