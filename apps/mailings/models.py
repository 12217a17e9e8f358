"""Who at a partner receives the monthly statement; every sending, once per contact and month."""

from django.db import models
from django.utils.translation import gettext_lazy as _

# The languages statements are written in (the console's own languages).
LANGUAGES = [("en-gb", "English"), ("fr", "Français")]


class PartnerContact(models.Model):
    """A person at a heat-network partner who may receive the monthly statement by e-mail.

    Managed by the partner's own users on their account page (and by admins)."""

    organisation = models.ForeignKey(
        "sites.Organisation", on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("e-mail"))
    language = models.CharField(_("language"), max_length=8, choices=LANGUAGES, default="en-gb")
    monthly_statement = models.BooleanField(_("monthly statement by e-mail"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organisation__name", "name", "email"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "email"], name="mailings_contact_unique_email"
            )
        ]
        verbose_name = _("partner contact")
        verbose_name_plural = _("partner contacts")

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class StatementMailing(models.Model):
    """One contact's statement e-mail for one month: the row is the idempotency key.

    A row is claimed (``sending``) before the message leaves and marked ``sent`` after. A worker
    killed between the two leaves it ``sending``: the message may or may not have left, so it is
    never sent again automatically; after ``STATEMENT_MAIL_STUCK`` it shows as ``unknown`` to
    admins, who can resend it. Never twice is the promise; an admin decides on the rare unknown.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        BOUNCED = "bounced", _("Bounced")

    contact = models.ForeignKey(
        PartnerContact, null=True, on_delete=models.SET_NULL, related_name="mailings"
    )
    organisation = models.ForeignKey(
        "sites.Organisation", on_delete=models.CASCADE, related_name="statement_mailings"
    )
    # Kept as text: the record of what was sent survives the contact's removal.
    email = models.EmailField()
    language = models.CharField(max_length=8)
    month = models.DateField(help_text="First day of the statement month.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    sites = models.JSONField(default=list, blank=True)  # site codes the message covered
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-month", "organisation__name", "email"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "email", "month"], name="mailings_once_per_month"
            )
        ]
        verbose_name = _("statement e-mail")
        verbose_name_plural = _("statement e-mails")

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} → {self.email} ({self.state})"
