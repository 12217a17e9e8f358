"""API tokens. The secret itself is never stored: only its HMAC-SHA256 digest under a pepper."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy, pgettext_lazy


class Scope(models.TextChoices):
    READ = "read", pgettext_lazy("token scope", "Read")
    WRITE = "write", gettext_lazy("Write (change inventory and settings)")
    OPERATE = "operate", gettext_lazy("Operate (power, console, BIOS, firmware)")


# Each scope includes the ones before it: write implies read, operate implies write.
SCOPE_ORDER = (Scope.READ, Scope.WRITE, Scope.OPERATE)


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True, expires__gt=timezone.now())


class ApiToken(models.Model):
    """One named token of a user. Several per user; each shown once, at creation."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The first characters of the token ("hst_" + 4), enough to recognise it in a list.
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)  # hex HMAC-SHA256
    pepper_id = models.CharField(max_length=32)
    scopes = models.JSONField(default=list)
    allowed_ips = models.JSONField(
        default=list, blank=True, help_text="CIDR ranges; empty allows any address."
    )
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = pgettext_lazy("admin model name", "API token")
        verbose_name_plural = pgettext_lazy("admin model name", "API tokens")
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires > timezone.now()

    def has_scope(self, scope: str) -> bool:
        """True when the token's scopes cover `scope` (operate ⊃ write ⊃ read)."""
        wanted = SCOPE_ORDER.index(scope)
        return any(SCOPE_ORDER.index(s) >= wanted for s in self.scopes if s in SCOPE_ORDER)

    @property
    def highest_scope(self) -> str:
        return max(self.scopes, key=SCOPE_ORDER.index, default=Scope.READ)
