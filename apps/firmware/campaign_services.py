"""Campaign writes: create one from its file (as a plan), and its lifecycle transitions.

Four eyes: a campaign is created ``planned`` and only an engineer other than its creator may
approve it. ``start`` only moves it to ``running``: the executor (a later piece) picks running
campaigns up and drives their waves. Every transition takes the campaign's row lock, is checked
against `TRANSITIONS` (a refusal says why and from which state), records who and when in the
campaign's history and is audited, refusals too.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.realtime import broadcast
from apps.firmware.campaign_inputs import campaign_bundle, campaign_inputs
from apps.firmware.campaign_plan import CampaignPlan, campaign_plan, gc_paused
from apps.firmware.campaign_spec import CampaignSpec, CampaignSpecError, spec_load
from apps.firmware.campaign_steps import campaign_group
from apps.firmware.campaigns import Campaign, CampaignNode, CampaignWave

S = Campaign.State

# action → (states it is allowed from, state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "approve": ((S.PLANNED,), S.APPROVED),
    "start": ((S.APPROVED,), S.RUNNING),
    "pause": ((S.RUNNING,), S.PAUSED),
    "resume": ((S.PAUSED, S.HALTED), S.RUNNING),
    "abort": ((S.PLANNED, S.APPROVED, S.RUNNING, S.PAUSED, S.HALTED), S.ABORTED),
    # Only a campaign that may have flashed something has anything to roll back.
    "rollback": ((S.RUNNING, S.PAUSED, S.HALTED, S.ABORTED, S.COMPLETED), S.ROLLING_BACK),
}


def halted_in_rollback(campaign: Campaign) -> bool:
    """Halted while rolling back: a resume goes on rolling back, never forward again."""
    if campaign.state != S.HALTED:
        return False
    for entry in reversed(campaign.history):
        if entry.get("to") == S.HALTED:
            return entry.get("from") == S.ROLLING_BACK
    return False


class CampaignConflict(Exception):
    """The transition is not allowed from the campaign's current state (HTTP 409)."""


def allowed_actions(campaign: Campaign, user: Any) -> list[str]:
    """The transitions the page offers ``user`` (the creator is not offered approve)."""
    out = [a for a, (sources, _) in TRANSITIONS.items() if campaign.state in sources]
    if campaign.created_by_id is not None and campaign.created_by_id == getattr(user, "pk", None):
        out = [a for a in out if a != "approve"]
    return out


def campaign_preview(
    *, spec: CampaignSpec | bytes | str | dict[str, Any], user: Any = None
) -> tuple[CampaignSpec, CampaignPlan]:
    """The dry run of a campaign file (nothing stored)."""
    if user is not None:
        access.require(user, Action.MANAGE_FIRMWARE)
    checked = spec if isinstance(spec, CampaignSpec) else spec_load(spec)
    bundle = campaign_bundle(checked)
    with gc_paused():  # one pause over both halves: rows built, then planned
        inputs = campaign_inputs(bundle=bundle, targets=checked.targets, user=user)
        return checked, campaign_plan(inputs, checked.strategy)


def campaign_create(
    *, spec: CampaignSpec | bytes | str | dict[str, Any], actor: Any = None
) -> tuple[Campaign, CampaignPlan]:
    """Stores a campaign in state planned, with its waves and nodes as the dry run placed them
    (``actor`` None: the command line). Refused (`CampaignSpecError`, audited) when the file is
    invalid or no node is eligible."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    try:
        checked, plan = campaign_preview(spec=spec, user=user)
        if not plan.eligible:
            raise CampaignSpecError(
                gettext_noop("No eligible node: %(excluded)s excluded, %(targeted)s targeted."),
                excluded=len(plan.excluded),
                targeted=plan.targeted,
            )
    except CampaignSpecError as refused:
        audit_record(
            actor=user,
            action="firmware.campaign_create",
            result=AuditEvent.Result.REFUSED,
            detail={"reason": str(refused)[:500]},
        )
        raise
    now = timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.create(
            bundle_id=plan.bundle.id,
            name=checked.name or f"{plan.bundle.sku} {plan.bundle.version} {now:%Y-%m-%d %H:%M}",
            targets=checked.targets,
            strategy=checked.strategy.as_dict(),
            created_by=user,
            state_changed_at=now,
            plan=plan.as_dict(nodes=False),
            history=[_entry("create", "", S.PLANNED, user, now, "")],
        )
        nodes = []
        for wave in plan.waves:
            row = CampaignWave.objects.create(
                campaign=campaign,
                index=wave.index,
                kind=wave.kind,
                node_count=wave.node_count,
                budget={
                    str(s.site_id): {"concurrency": s.concurrency, "loss_w": s.loss_w}
                    for s in wave.sites
                },
            )
            nodes.extend(
                CampaignNode(campaign=campaign, wave=row, node_id=node_id)
                for node_id in wave.node_ids
            )
        CampaignNode.objects.bulk_create(nodes, batch_size=2000)
        audit_record(
            actor=user,
            action="firmware.campaign_create",
            target=campaign,
            detail={
                "campaign_id": campaign.pk,
                "bundle_id": plan.bundle.id,
                "nodes": plan.eligible,
                "waves": len(plan.waves),
                "excluded": len(plan.excluded),
            },
        )
    return campaign, plan


def _entry(action: str, source: str, target: str, user: Any, at: Any, note: str) -> dict:
    return {
        "action": action,
        "from": source,
        "to": target,
        "by": user.get_username() if user is not None else "system",
        "at": at.isoformat(),
        "note": note[:300],
    }


def _refuse(user: Any, campaign: Campaign, action: str, reason: str) -> None:
    audit_record(
        actor=user,
        action=f"firmware.campaign_{action}",
        target=campaign,
        result=AuditEvent.Result.REFUSED,
        detail={"campaign_id": campaign.pk, "state": campaign.state, "reason": reason},
    )


def campaign_transition(*, campaign_id: int, action: str, actor: Any, note: str = "") -> Campaign:
    """Moves a campaign by ``action`` (approve, start, pause, resume, abort, rollback).

    `PermissionDenied`: the actor may not manage firmware, or approves their own campaign;
    `CampaignConflict`: not allowed from the current state. Both audited as refused."""
    access.require(actor, Action.MANAGE_FIRMWARE)
    if action not in TRANSITIONS:
        raise CampaignConflict(f"Unknown action {action!r}.")
    sources, target = TRANSITIONS[action]
    refusal: Exception | None = None
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.state not in sources:
            refusal = CampaignConflict(
                f"Cannot {action} a campaign that is {campaign.state}; allowed from: "
                f"{', '.join(sources)}."
            )
        elif action == "approve" and campaign.created_by_id == actor.pk:
            refusal = PermissionDenied(
                "Four eyes: the engineer who created a campaign cannot approve it."
            )
        else:
            if action == "resume" and halted_in_rollback(campaign):
                target = S.ROLLING_BACK  # the rollback goes on, through the same gates
            _apply(campaign, action, target, actor, note)
    if refusal is not None:
        # audited outside the transaction above, so the refusal's record is kept
        _refuse(actor, campaign, action, str(refusal))
        raise refusal
    return campaign


def _apply(campaign: Campaign, action: str, target: str, actor: Any, note: str) -> None:
    """Moves the locked campaign to ``target``, records who and when, audits it."""
    now = timezone.now()
    source = campaign.state
    campaign.state = target
    campaign.state_changed_at = now
    fields = ["state", "state_changed_at", "history"]
    if action == "approve":
        campaign.approved_by, campaign.approved_at = actor, now
        fields += ["approved_by", "approved_at"]
    elif action == "start":
        campaign.started_at = now
        fields.append("started_at")
    elif action == "abort":
        campaign.finished_at = now
        campaign.reason = (note or f"Aborted by {actor.get_username()}.")[:500]
        fields += ["finished_at", "reason"]
    campaign.history = [
        *campaign.history,
        _entry(action, source, target, actor, now, note),
    ]
    campaign.save(update_fields=fields)
    audit_record(
        actor=actor,
        action=f"firmware.campaign_{action}",
        target=campaign,
        detail={"campaign_id": campaign.pk, "from": source, "to": target, "note": note[:300]},
    )
    # The campaign's open pages follow its approval, start, pause... as they follow the executor.
    broadcast(
        campaign_group(campaign.pk),
        {
            "type": "campaign.state",
            "campaign_id": campaign.pk,
            "state": target,
            "reason": campaign.reason,
        },
    )
