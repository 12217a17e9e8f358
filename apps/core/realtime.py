"""Server pushes: one helper, called after the transaction commits.

Group names follow `<entity>.<id>.<topic>`: `site.12.heat`, `site.12.hardware`,
`partner.3.heat`, `fleet.heat`, `node.40.hardware`.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def send_now(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "push", "event": event})
    except Exception:  # a live update must never break the action that caused it
        logger.warning("broadcast to %s failed", group, exc_info=True)


def broadcast(group: str, event: dict[str, Any]) -> None:
    """Sends `event` to every websocket in `group` once the current transaction commits."""
    transaction.on_commit(lambda: send_now(group, event))
