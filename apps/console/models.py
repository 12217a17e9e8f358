"""Console sessions: one engineer watching one node's serial console, from connect to close."""

from django.conf import settings
from django.db import models


class ConsoleSession(models.Model):
    """One websocket viewing a node's console (the audit trail holds who typed when)."""

    node = models.ForeignKey(
        "sites.Node", on_delete=models.CASCADE, related_name="console_sessions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too, so the record survives the user's deletion.
    username = models.CharField(max_length=150)
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["node", "-opened_at"])]

    def __str__(self) -> str:
        return f"{self.username} on {self.node_id} ({self.opened_at:%Y-%m-%d %H:%M})"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None
