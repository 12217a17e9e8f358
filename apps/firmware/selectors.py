"""Reads of firmware updates for pages."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.firmware.models import FirmwareUpdate
from apps.sites.models import Node


def node_firmware_updates(node: Node, limit: int = 20) -> QuerySet[FirmwareUpdate]:
    """The node's latest updates, newest first (in progress and history)."""
    return node.firmware_updates.select_related("image", "requested_by").order_by(
        "-requested_at", "-id"
    )[:limit]
