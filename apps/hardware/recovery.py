"""Power actions whose worker died: handed back to the queue within a bounded time.

With acks_late the broker redelivers a dead worker's message, but on Redis only after the
visibility timeout (minutes), and the node stays blocked meanwhile. Every
``POWER_RECOVER_INTERVAL`` this looks for active actions held by a worker whose heartbeat
(``apps.ops.liveness``) stopped and sends them again: ``power_execute`` then re-runs what is
safe to repeat and fails a reset or cycle that may have reached the BMC ("interrupted"), as it
does for any redelivery. The original message, if it comes back later, finds the action
finished and does nothing.
"""

from __future__ import annotations

import logging

from django.db import transaction

from apps.audit.services import audit_record
from apps.hardware.models import PowerAction
from apps.ops import liveness

log = logging.getLogger(__name__)


def power_orphans_redispatch() -> list[int]:
    """Sends again the active actions of dead workers; returns their ids."""
    held = list(
        PowerAction.objects.filter(status__in=PowerAction.ACTIVE)
        .exclude(worker="")
        .values_list("pk", "worker")
    )
    living = liveness.alive(sorted({worker for _, worker in held}))
    orphans = [(pk, worker) for pk, worker in held if worker not in living]
    sent = []
    for pk, worker in orphans:
        with transaction.atomic():
            # Claimed again only if still held by the dead worker (another check, or the
            # original message, may have got there first).
            claimed = PowerAction.objects.filter(
                pk=pk, worker=worker, status__in=PowerAction.ACTIVE
            ).update(worker="")
            if not claimed:
                continue
            action = PowerAction.objects.select_related("node").get(pk=pk)
            audit_record(
                actor=None,
                action="power.recover",
                target=action.node,
                detail={"power_action": pk, "kind": action.kind, "dead_worker": worker},
            )
            transaction.on_commit(lambda pk=pk: _send(pk))
        sent.append(pk)
        log.warning("power action %s: worker %s stopped; sent to the queue again", pk, worker)
    return sent


def _send(action_id: int) -> None:
    from apps.hardware.tasks import power_execute_task

    power_execute_task.delay(action_id)
