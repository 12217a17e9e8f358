"""Changes to the inventory: sites, nodes, meters. Each owns its transaction and audit record."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Model, Q

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.services import audit_record
from apps.sites.models import HeatMeter, Node, Site

_NODE_SECRET_FIELDS = {"bmc_password"}


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


def _save(*, actor: Any, instance: Model, data: dict[str, Any], verb: str) -> Model:
    access.require(actor, Action.MANAGE_INVENTORY)
    creating = instance.pk is None
    with transaction.atomic():
        changed = _apply(instance, data)
        instance.full_clean()
        instance.save()
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
    """Creates or updates a node; `bmc_password` is encrypted, never stored or audited clear."""
    return _save(actor=actor, instance=node or Node(), data=data, verb="node")  # type: ignore[return-value]


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
