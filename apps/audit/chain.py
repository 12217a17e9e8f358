"""The audit trail's hash chain: each record's hash covers its content and the previous hash.

Records chain in id order. Writers lock the one `AuditChainHead` row (SELECT ... FOR UPDATE on
PostgreSQL) for the rest of their transaction, so two writers never chain onto the same record;
a rolled-back transaction rolls back its records and the head together. SQLite (development,
tests) serialises writers itself but does not lock the head: concurrent writers from several
processes could fork the chain there.

`verify()` recomputes every hash: a modified record no longer matches its hash, a removed one
breaks the next record's link, and a removed newest record no longer matches the head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC

from django.db import IntegrityError, transaction

from apps.audit.models import AuditChainHead, AuditEvent

GENESIS = "0" * 64
HEAD_ID = 1


def payload(event: AuditEvent, prev_hash: str) -> bytes:
    """The canonical bytes a record's hash covers."""
    content = {
        "prev": prev_hash,
        "at": event.at.astimezone(UTC).isoformat(),
        "actor": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_repr": event.target_repr,
        "site": event.site_id,
        "result": event.result,
        "detail": event.detail,
        "auth": event.auth,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(event: AuditEvent, prev_hash: str) -> str:
    return hashlib.sha256(payload(event, prev_hash)).hexdigest()


def locked_head() -> AuditChainHead:
    """The chain head, locked until the caller's transaction ends (created if missing, e.g.
    after a test database flush)."""
    head = AuditChainHead.objects.select_for_update().filter(pk=HEAD_ID).first()
    if head is None:
        try:
            with transaction.atomic():
                AuditChainHead.objects.create(pk=HEAD_ID, hash=GENESIS)
        except IntegrityError:
            pass  # another writer created it first
        head = AuditChainHead.objects.select_for_update().get(pk=HEAD_ID)
    return head


def append(event: AuditEvent) -> AuditEvent:
    """Chains and inserts `event` (unsaved). Must run inside a transaction."""
    head = locked_head()
    prev = head.hash or GENESIS
    # The stored JSON is what the hash must cover: normalise it as the database returns it.
    event.detail = json.loads(json.dumps(event.detail))
    event.prev_hash = prev
    event.hash = digest(event, prev)
    event.save(force_insert=True)
    AuditChainHead.objects.filter(pk=HEAD_ID).update(
        last_id=event.pk, hash=event.hash, count=head.count + 1
    )
    return event


def problems(chunk: int = 2000) -> Iterator[str]:
    """Every break in the chain, in words, oldest first."""
    prev, last_id, count = GENESIS, 0, 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=chunk):
        if event.prev_hash != prev:
            yield (
                f"record #{event.pk} ({event.action}) does not follow record #{last_id}: "
                "a record between them was removed or altered"
            )
        if digest(event, event.prev_hash) != event.hash:
            yield f"record #{event.pk} ({event.action}) was modified after it was written"
        prev, last_id, count = event.hash, event.pk, count + 1
    head = AuditChainHead.objects.filter(pk=HEAD_ID).first()
    if head is None:
        if count:
            yield "the chain head is missing"
    elif (head.last_id, head.hash or GENESIS, head.count) != (last_id, prev, count):
        yield (
            f"the chain ends at record #{last_id} ({count} records) but its head says "
            f"#{head.last_id} ({head.count} records): newest records were removed or added "
            "outside the audit service"
        )


def head_summary() -> str:
    head = AuditChainHead.objects.filter(pk=HEAD_ID).first()
    if head is None:
        return "empty audit trail"
    return f"{head.count} records, newest #{head.last_id}, head hash {head.hash}"


def contains_hash(value: str) -> bool:
    """Whether some record carries `value` (a head hash written down earlier)."""
    return AuditEvent.objects.filter(hash=value.strip().lower()).exists()
