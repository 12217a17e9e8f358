"""The monthly statement e-mail from the command line: send, bounce, status."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.text import slugify

from apps.mailings import services
from apps.mailings.models import PartnerContact, StatementMailing
from apps.sites.models import Organisation


class Command(BaseCommand):
    help = "Send the settled month's statement e-mails, record a bounce, or list sendings."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="command", required=True)
        send = sub.add_parser("send", help="send what is due (idempotent)")
        send.add_argument("--month", help="YYYY-MM (default: the previous month)")
        bounce = sub.add_parser("bounce", help="record a bounce reported by the mail system")
        bounce.add_argument("email")
        bounce.add_argument("month", help="YYYY-MM")
        bounce.add_argument("--reason", default="bounced")
        status = sub.add_parser("status", help="list the sendings of a month")
        status.add_argument("month", help="YYYY-MM")
        sub.add_parser("seed-demo", help="one opted-in contact per demo partner (idempotent)")

    def handle(self, *args, command, **options):
        try:
            getattr(self, "_" + command.replace("-", "_"))(**options)
        except services.MailingError as exc:
            raise CommandError(str(exc)) from exc

    def _send(self, month=None, **_):
        outcome = services.send_due(month=services.parse_month(month) if month else None)
        for reason in outcome.skipped:
            self.stdout.write(f"skipped: {reason}")
        self.stdout.write(
            f"{outcome.month:%Y-%m}: {outcome.created} new, {outcome.sent} sent, "
            f"{outcome.failed} failed"
        )

    def _bounce(self, email, month, reason, **_):
        count = services.record_bounce(email, services.parse_month(month), reason=reason)
        self.stdout.write(f"{count} e-mail(s) to {email} marked bounced")

    def _seed_demo(self, **_):
        partners = Organisation.objects.filter(kind=Organisation.Kind.PARTNER).order_by("name")
        for n, org in enumerate(partners):
            slug = slugify(org.name)
            contact, created = PartnerContact.objects.get_or_create(
                organisation=org,
                email=f"statements@{slug}.example",
                defaults={"name": f"Service facturation {org.name}", "language": "fr"
                          if n == 0 else "en-gb"},
            )  # fmt: skip
            self.stdout.write(f"{'created' if created else 'kept'} {contact} ({org.name})")

    def _status(self, month, **_):
        now = timezone.now()
        for mailing in StatementMailing.objects.filter(month=services.parse_month(month)):
            state = "unknown" if services.is_unknown(mailing, now) else mailing.state
            self.stdout.write(
                f"{mailing.organisation.name}\t{mailing.email}\t{state}\t{mailing.error}"
            )
