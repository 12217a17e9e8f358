"""The monthly statement e-mail: due once the month is settled, once per contact and month,
in the contact's language, with the statement's own figures and PDFs, never another partner's."""

import smtplib
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent
from apps.heat import statements
from apps.heat.selectors import monthly_statement
from apps.mailings import services
from apps.mailings.models import StatementMailing

pytestmark = pytest.mark.django_db
MARCH = date(2026, 3, 1)
# 1 April 15:00 UTC: every time zone's 31 March is final (settled 14 h after midnight UTC).
SETTLED = datetime(2026, 4, 1, 15, 0, tzinfo=UTC)


def sent_to() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


def test_nothing_goes_out_before_the_month_is_settled(march, contacts):
    early = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
    outcome = services.send_due(early)
    assert outcome.skipped == ["2026-03 is not settled yet"]
    assert mail.outbox == [] and not StatementMailing.objects.exists()


def test_each_opted_in_contact_gets_the_month_once_across_runs(march, contacts):
    first = services.send_due(SETTLED)
    second = services.send_due(SETTLED + timedelta(hours=1))
    assert (first.created, first.sent) == (3, 3)
    assert (second.created, second.sent) == (0, 0)
    assert sent_to() == ["claire@rcu.example", "nadia@ecn.example", "tom@rcu.example"]
    assert StatementMailing.objects.filter(state="sent").count() == 3


def test_a_contact_never_receives_another_partners_statement(march, contacts):
    services.send_due(SETTLED)
    by_address = {message.to[0]: message for message in mail.outbox}
    nadia, tom = by_address["nadia@ecn.example"], by_address["tom@rcu.example"]
    assert [name for name, *_ in nadia.attachments] == ["heat-statement-ecn-1-2026-03.pdf"]
    assert [name for name, *_ in tom.attachments] == ["heat-statement-rcu-1-2026-03.pdf"]
    assert "rcu-1" not in nadia.body and "Réseau" not in nadia.body
    assert "ecn-1" not in tom.body


def test_the_key_figures_are_the_statements_own(march, contacts):
    reseau_site, _ = march
    services.send_due(SETTLED)
    tom = next(m for m in mail.outbox if m.to == ["tom@rcu.example"])
    doc = statements.statement_document(
        monthly_statement(reseau_site.id, 2026, 3), partner="x", generated_at=SETTLED
    )
    assert doc["energy_kwh"] is not None
    assert f"Heat delivered: {doc['energy_kwh']:,.1f} kWh" in tom.body
    _, content, mimetype = tom.attachments[0]
    assert mimetype == "application/pdf" and content.startswith(b"%PDF")


def test_each_contact_reads_it_in_their_language(march, contacts):
    services.send_due(SETTLED)
    by_address = {message.to[0]: message for message in mail.outbox}
    assert "mars 2026" in by_address["claire@rcu.example"].subject
    assert "March 2026" in by_address["tom@rcu.example"].subject


def test_an_unknown_month_stays_unknown_in_the_mail(reseau_site, contacts):
    from apps.sites.models import HeatMeter
    from tests.mailings.conftest import month_of_readings

    meter = HeatMeter.objects.create(site=reseau_site, serial="HM-x", host="127.0.0.1")
    month_of_readings(meter, 2026, 1)  # read in January, never since
    services.send_due(SETTLED)
    tom = next(m for m in mail.outbox if m.to == ["tom@rcu.example"])
    assert "Heat delivered: unknown (no reading)" in tom.body
    assert "0.0 kWh" not in tom.body


def test_an_opted_out_contact_gets_nothing(march, contacts):
    services.send_due(SETTLED)
    assert "off@rcu.example" not in sent_to()


def test_each_sending_is_audited(march, contacts):
    services.send_due(SETTLED)
    events = AuditEvent.objects.filter(action="statement.mail", result="ok")
    assert sorted(e.detail["email"] for e in events) == sorted(sent_to())
    assert {e.detail["month"] for e in events} == {"2026-03"}


class Refusing:
    """A mail backend whose server is down."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")


def test_a_failure_is_recorded_retried_and_bounded(march, contacts, settings):
    settings.STATEMENT_MAIL_ATTEMPTS = 2
    locmem, settings.EMAIL_BACKEND = settings.EMAIL_BACKEND, f"{__name__}.Refusing"
    services.send_due(SETTLED)
    services.send_due(SETTLED)
    services.send_due(SETTLED)  # the third run leaves them: two attempts each at most
    rows = StatementMailing.objects.all()
    assert {(r.state, r.attempts) for r in rows} == {("failed", 2)}
    assert "SMTPServerDisconnected" in rows[0].error
    assert AuditEvent.objects.filter(action="statement.mail", result="failed").count() == 6
    settings.EMAIL_BACKEND = locmem
    services.send_due(SETTLED)
    assert mail.outbox == []  # out of attempts: an admin decides (resend)


def test_a_message_whose_worker_died_is_never_sent_again_automatically(march, contacts, settings):
    services.plan_month(MARCH)
    claimed = StatementMailing.objects.get(email="tom@rcu.example")
    StatementMailing.objects.filter(pk=claimed.pk).update(state="sending", claimed_at=SETTLED)
    services.send_due(SETTLED + timedelta(hours=2))
    assert "tom@rcu.example" not in sent_to()
    claimed.refresh_from_db()
    assert services.is_unknown(claimed, SETTLED + timedelta(hours=2))
    services.resend(claimed, by=None)
    services.send_due(SETTLED + timedelta(hours=3))
    assert sent_to().count("tom@rcu.example") == 1


def test_resend_refuses_a_message_already_sent(march, contacts):
    services.send_due(SETTLED)
    with pytest.raises(services.MailingError, match="nothing to resend"):
        services.resend(StatementMailing.objects.first(), by=None)


def test_a_bounce_is_recorded_from_the_command_line(march, contacts, capsys):
    services.send_due(SETTLED)
    call_command("statement_mail", "bounce", "TOM@rcu.example", "2026-03", "--reason", "550 no")
    row = StatementMailing.objects.get(email="tom@rcu.example")
    assert (row.state, row.error) == ("bounced", "550 no")
    assert AuditEvent.objects.filter(action="statement.mail_bounce").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bounce", "who@x.example", "2026-03"], "no statement e-mail to who@x.example"),
        (["bounce", "tom@rcu.example", "2026-13"], "impossible month"),
        (["send", "--month", "March"], "month must be YYYY-MM"),
    ],
)
def test_the_command_refuses_bad_input_with_a_reason(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("statement_mail", *args)
