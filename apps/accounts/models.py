"""User accounts: every user has exactly one role."""

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    PARTNER = "partner", _("Heat-network partner")
    ENGINEER = "engineer", _("Remote engineer")
    PLANNER = "planner", _("Planner")
    ADMIN = "admin", _("Administrator")


class Language(models.TextChoices):
    """The languages of settings.LANGUAGES; empty means "the browser's" (Accept-Language)."""

    BROWSER = "", _("As my browser asks")
    ENGLISH = "en-gb", "English"
    FRENCH = "fr", "Français"


class User(AbstractUser):
    """A console user. Partners are bound to exactly one partner organisation."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ENGINEER)
    organisation = models.ForeignKey(
        "sites.Organisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        help_text="Required for partners, empty for everyone else.",
    )
    # Pages, e-mails and documents for this user; "" follows the browser's Accept-Language.
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, blank=True, default=""
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="partner_has_organisation",
                condition=~models.Q(role="partner") | models.Q(organisation__isnull=False),
            ),
        ]

    def clean(self) -> None:
        super().clean()
        if self.role == Role.PARTNER and self.organisation_id is None:
            raise ValidationError(
                {"organisation": _("A partner user belongs to one organisation.")}
            )
        if self.role != Role.PARTNER and self.organisation_id is not None:
            raise ValidationError(
                {"organisation": _("Only partner users belong to an organisation.")}
            )

    @property
    def is_partner(self) -> bool:
        return self.role == Role.PARTNER
