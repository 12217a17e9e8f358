"""Changes to the inventory: sites, nodes, meters. Each owns its transaction and audit record."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, Q

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.services import audit_record
from apps.sites.models import HeatMeter, Node, Site

_NODE_SECRET_FIELDS = {"bmc_password"}
# Written by the BMC password rotation (apps.hardware.rotation) with conditional updates: an
# inventory edit never writes back what it read before a rotation stored a new password.
_ROTATION_FIELDS = frozenset(
    {
        "bmc_password_encrypted",
        "bmc_password_pending_encrypted",
        "bmc_rotation_state",
        "bmc_rotation_error",
        "bmc_rotation_started_at",
        "bmc_password_rotated_at",
    }
)


def _apply(instance: Model, data: dict[str, Any]) -> dict[str, Any]:
    changed = {}
    for field, value in data.items():
        if field in _NODE_SECRET_FIELDS:
            instance.set_bmc_password(value)  # type: ignore[attr-defined]
            changed[field] = "***"
            continue
        if getattr(instance, field, None) != value:  # unset relations read as None
            changed[field] = str(value)
        setattr(instance, field, value)
    return changed


def _save(
    *, actor: Any, instance: Model, data: dict[str, Any], verb: str, keep: frozenset = frozenset()
) -> Model:
    """``keep``: fields an update leaves as they are in the database."""
    access.require(actor, Action.MANAGE_INVENTORY)
    creating = instance.pk is None
    with transaction.atomic():
        changed = _apply(instance, data)
        instance.full_clean()
        if creating or not keep:
            instance.save()
        else:
            fields = instance._meta.concrete_fields
            instance.save(
                update_fields=[f.name for f in fields if not f.primary_key and f.name not in keep]
            )
        audit_record(
            actor=actor,
            action=f"{verb}.{'create' if creating else 'update'}",
            target=instance,
            detail={"changed": changed},
        )
    return instance


def site_save(*, actor: Any, data: dict[str, Any], site: Site | None = None) -> Site:
    """Creates or updates a site from validated data."""
    return _save(actor=actor, instance=site or Site(), data=data, verb="site")  # type: ignore[return-value]


def node_save(*, actor: Any, data: dict[str, Any], node: Node | None = None) -> Node:
    """Creates or updates a node; `bmc_password` is encrypted, never stored or audited clear.

    A password given here is what the BMC has now: it ends a failed rotation's pending one, and
    is refused while a rotation runs (it would race the rotation's own store)."""
    keep = _ROTATION_FIELDS
    if node is not None and "bmc_password" in data:
        from apps.hardware.rotation import bmc_rotation_busy

        if bmc_rotation_busy(node):
            raise ValidationError(
                {"bmc_password": "A password rotation of this node is in progress; set the "
                 "password once it has finished."}
            )  # fmt: skip
        node.bmc_password_pending_encrypted = ""
        node.bmc_rotation_state, node.bmc_rotation_error = Node.BmcRotationState.NONE, ""
        keep = _ROTATION_FIELDS - {
            "bmc_password_encrypted", "bmc_password_pending_encrypted",
            "bmc_rotation_state", "bmc_rotation_error",
        }  # fmt: skip
    return _save(actor=actor, instance=node or Node(), data=data, verb="node", keep=keep)  # type: ignore[return-value]


def meter_save(*, actor: Any, data: dict[str, Any], meter: HeatMeter | None = None) -> HeatMeter:
    return _save(actor=actor, instance=meter or HeatMeter(), data=data, verb="meter")  # type: ignore[return-value]


def credentials_rotate() -> int:
    """Re-encrypts every stored BMC password under the newest key; returns how many."""
    from apps.core import crypto

    count = 0
    with transaction.atomic():
        stored = ~Q(bmc_password_encrypted="") | ~Q(bmc_password_pending_encrypted="")
        for node in Node.objects.filter(stored).select_for_update():
            fields = ["bmc_password_encrypted", "bmc_password_pending_encrypted"]
            for field in fields:  # a rotation's pending password too: it may be the BMC's
                if getattr(node, field):
                    setattr(node, field, crypto.rotate(getattr(node, field)))
            node.save(update_fields=fields)
            count += 1
        audit_record(actor=None, action="credentials.rotate", detail={"nodes": count})
    return count
