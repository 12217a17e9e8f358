"""User accounts: every user has exactly one role."""

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models


class Role(models.TextChoices):
    PARTNER = "partner", "Heat-network partner"
    ENGINEER = "engineer", "Remote engineer"
    PLANNER = "planner", "Planner"
    ADMIN = "admin", "Administrator"


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
            raise ValidationError({"organisation": "A partner user belongs to one organisation."})
        if self.role != Role.PARTNER and self.organisation_id is not None:
            raise ValidationError({"organisation": "Only partner users belong to an organisation."})

    @property
    def is_partner(self) -> bool:
        return self.role == Role.PARTNER
