"""The campaign executor: waves, the heat budget, windows and gates, one round per call.

`campaign_advance(campaign_id)` is what the task (and the beat sweep) calls. Under the
campaign's row lock it moves every node in flight one step (`apps.firmware.campaign_steps`),
then, for a running campaign: requeues failed nodes that have retries left, halts the campaign
when the error threshold is reached (reasons on the campaign; the next wave is not touched),
finishes the current wave when its nodes are done (success threshold, then the soak) and starts
pending nodes of the current wave that fit:

- the site's maintenance windows (local time): outside them nothing new starts there; nodes in
  flight finish (a half-flashed node is worse than a late one); the next window resumes;
- the heat budget: at most ``max_down_per_site`` nodes of a site in flight at once (every
  campaign counted), and never more than ``max_site_loss_pct`` of the site's live draw lost;
  a node whose draw is unknown only starts alone at its site;
- ``max_parallel`` nodes in flight campaign-wide.

A node counts as down from the moment it starts until its heat gate passed (conservative: its
drain and staging count too). Paused, halted and aborted campaigns start nothing new; their
nodes in flight finish. ``rolling_back``: the nodes the campaign took are taken back to the
versions they had, through the same steps and budget. Each round stamps ``advanced_at``: a
running campaign whose stamp is older than ``CAMPAIGN_STALLED_SECONDS`` is stalled
(`campaign_stalled`), shown as such, never silently "running".
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.realtime import broadcast
from apps.firmware.campaign_inputs import site_windows
from apps.firmware.campaign_steps import (
    ROLLBACK,
    NodeFailed,
    campaign_group,
    campaign_node_advance,
    campaign_node_fail,
    campaign_node_record,
    campaign_node_start,
)
from apps.firmware.campaign_windows import window_next, window_open
from apps.firmware.campaigns import Campaign, CampaignNode, CampaignWave
from apps.gateways.firmware import GatewayPending
from apps.sites.models import Node

logger = logging.getLogger(__name__)

S = Campaign.State
W = CampaignWave.State
N = CampaignNode.State
# States in which the executor still has something to do.
LIVE = (S.RUNNING, S.PAUSED, S.HALTED, S.ABORTED, S.ROLLING_BACK)


def campaign_stalled(campaign: Campaign, now: datetime | None = None) -> bool:
    """A running (or rolling back) campaign no executor round has touched for the bound."""
    return campaign.stalled_at(now or timezone.now())


def campaigns_live() -> list[int]:
    """Campaigns the beat sweep hands to a worker: running or rolling back, and those with
    nodes still in flight (paused, halted, aborted)."""
    active = set(
        Campaign.objects.filter(state__in=(S.RUNNING, S.ROLLING_BACK)).values_list("pk", flat=True)
    )
    active |= set(
        CampaignNode.objects.filter(state=N.RUNNING, campaign__state__in=LIVE).values_list(
            "campaign_id", flat=True
        )
    )
    return sorted(active)


def _history(campaign: Campaign, action: str, target: str, now: datetime, note: str) -> None:
    campaign.history = [
        *campaign.history,
        {
            "action": action,
            "from": campaign.state,
            "to": target,
            "by": "system",
            "at": now.isoformat(),
            "note": note[:300],
        },
    ]


def _set_state(campaign: Campaign, now: datetime, target: str, action: str, reason: str) -> None:
    source = campaign.state
    _history(campaign, action, target, now, reason)
    campaign.state, campaign.state_changed_at, campaign.reason = target, now, reason[:500]
    fields = ["state", "state_changed_at", "reason", "history"]
    if target in (S.COMPLETED, S.ROLLED_BACK):
        campaign.finished_at = now
        fields.append("finished_at")
    campaign.save(update_fields=fields)
    audit_record(
        actor=None,
        action=f"firmware.campaign_{action}",
        target=campaign,
        result=AuditEvent.Result.FAILED if target == S.HALTED else AuditEvent.Result.OK,
        detail={"campaign_id": campaign.pk, "from": source, "to": target, "reason": reason[:300]},
    )
    _announce(campaign)


def _announce(campaign: Campaign, wave: CampaignWave | None = None) -> None:
    event: dict[str, Any] = {
        "type": "campaign.state",
        "campaign_id": campaign.pk,
        "state": campaign.state,
        "reason": campaign.reason,
    }
    if wave is not None:
        counts = dict.fromkeys(("pending", "running", "succeeded", "failed"), 0)
        for state in wave.nodes.exclude(phase=ROLLBACK).values_list("state", flat=True):
            counts[state] = counts.get(state, 0) + 1
        event.update(wave=wave.index, wave_state=wave.state, nodes=counts)  # progress bars
    broadcast(campaign_group(campaign.pk), event)


def campaign_advance(campaign_id: int, *, now: datetime | None = None) -> str | None:
    """One executor round of a campaign; its state afterwards (None: nothing to do)."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("bundle", "bundle__profile", "approved_by")
            .filter(pk=campaign_id, state__in=LIVE)
            .first()
        )
        if campaign is None:
            return None  # finished, or another worker holds this round
        for cn_id in campaign.campaign_nodes.filter(state=N.RUNNING).values_list("pk", flat=True):
            _advance_node(cn_id, now)
        if campaign.state == S.RUNNING:
            _forward(campaign, now)
        elif campaign.state == S.ROLLING_BACK:
            _rollback(campaign, now)
        campaign.advanced_at = now
        campaign.save(update_fields=["advanced_at"])
        return campaign.state


def _advance_node(cn_id: int, now: datetime) -> None:
    try:
        with transaction.atomic():
            campaign_node_advance(cn_id, now=now)
    except Exception as error:  # one node's bug must not stop the others' rounds
        logger.exception("campaign node %s failed unexpectedly", cn_id)
        cn = CampaignNode.objects.select_related("node").get(pk=cn_id)

        campaign_node_fail(
            cn, now, NodeFailed("internal", f"Heatsite failed ({type(error).__name__}).")
        )


# --- forward ---------------------------------------------------------------------------------


def _since_resume(campaign: Campaign, actions: tuple[str, ...] = ("resume",)) -> datetime | None:
    """Failures seen before the last resume were acknowledged by whoever resumed (for the
    rollback's gate, failures before the rollback began are the forward phase's)."""
    for entry in reversed(campaign.history):
        if entry.get("action") in actions:
            return datetime.fromisoformat(entry["at"])
    return None


def _phase_nodes(campaign: Campaign, rollback: bool):
    nodes = campaign.campaign_nodes
    return nodes.filter(phase=ROLLBACK) if rollback else nodes.exclude(phase=ROLLBACK)


def _requeue_retries(campaign: Campaign, now: datetime, rollback: bool = False) -> None:
    retries = int(campaign.strategy.get("retries", 1))
    failed = _phase_nodes(campaign, rollback).filter(state=N.FAILED, attempts__range=(1, retries))
    for cn in failed.select_related("node"):
        campaign_node_record(
            cn,
            now,
            state=N.PENDING,
            step=CampaignNode.Step.QUEUED,
            reason=f"Retry {cn.attempts}/{retries} after: {cn.reason}"[:500],
            update=None,
            good_reads=0,
        )


def _error_gate(campaign: Campaign, rollback: bool = False) -> str:
    """Why the campaign (or its rollback) must halt now ('' : it need not)."""
    strategy = campaign.strategy
    nodes = _phase_nodes(campaign, rollback)
    acknowledged = _since_resume(campaign, ("resume", "rollback") if rollback else ("resume",))
    failed = nodes.filter(state=N.FAILED, attempts__gt=int(strategy.get("retries", 1)))
    if acknowledged is not None:
        failed = failed.filter(finished_at__gt=acknowledged)
    count = failed.count()
    if not count:
        return ""
    done = count + nodes.filter(state=N.ROLLED_BACK if rollback else N.SUCCEEDED).count()
    limit = strategy.get("error_threshold_count")
    pct = strategy.get("error_threshold_pct")
    sample = int(strategy.get("error_min_sample", 5))
    why = ""
    if limit is not None and count >= int(limit):
        why = f"{count} node(s) failed (error threshold {limit})"
    elif pct is not None and done >= sample and count * 100 / done >= float(pct):
        why = f"{count}/{done} nodes failed ({count * 100 / done:.0f} % ≥ {float(pct):g} %)"
    if not why:
        return ""
    examples = "; ".join(f"{cn.node.name}: {cn.reason}" for cn in failed.select_related("node")[:3])
    return f"Halted{' the rollback' if rollback else ''}: {why}. {examples}"


def _current_wave(campaign: Campaign) -> CampaignWave | None:
    return (
        campaign.waves.filter(state__in=(W.PENDING, W.RUNNING, W.SOAKING)).order_by("index").first()
    )


def _forward(campaign: Campaign, now: datetime) -> None:
    _requeue_retries(campaign, now)
    why = _error_gate(campaign)
    if why:
        _set_state(campaign, now, S.HALTED, "halt", why)
        return
    for _ in range(campaign.waves.count() + 1):
        wave = _current_wave(campaign)
        if wave is None:
            _set_state(campaign, now, S.COMPLETED, "complete", "Every wave succeeded.")
            return
        if wave.state == W.PENDING:
            wave.state, wave.started_at = W.RUNNING, now
            wave.save(update_fields=["state", "started_at"])
            _announce(campaign, wave)
        if wave.state == W.RUNNING:
            nodes = wave.nodes.exclude(phase=ROLLBACK)
            if nodes.filter(state__in=(N.PENDING, N.RUNNING)).exists():
                _start_nodes(campaign, nodes.filter(state=N.PENDING), now)
                return
            total = nodes.count() or 1
            ok = nodes.filter(state=N.SUCCEEDED).count()
            wanted = float(campaign.strategy.get("success_threshold_pct", 100.0))
            if ok * 100 / total < wanted:
                wave.state, wave.finished_at = W.FAILED, now
                wave.save(update_fields=["state", "finished_at"])
                _announce(campaign, wave)
                reason = (
                    f"Halted: wave {wave.index} reached {ok}/{total} succeeded "
                    f"({ok * 100 / total:.0f} % < {wanted:g} %); the next wave was not started."
                )
                _set_state(campaign, now, S.HALTED, "halt", reason)
                return
            wave.state, wave.finished_at = W.SOAKING, now
            wave.save(update_fields=["state", "finished_at"])
            _announce(campaign, wave)
        if wave.state == W.SOAKING:
            soak = timedelta(minutes=int(campaign.strategy.get("soak_minutes", 0)))
            if now < (wave.finished_at or now) + soak:
                return
            wave.state = W.SUCCEEDED
            wave.save(update_fields=["state"])
            _announce(campaign, wave)


# --- the heat budget and windows -------------------------------------------------------------


def _start_nodes(campaign: Campaign, pending, now: datetime) -> list[int]:
    """Starts the pending nodes that fit the budget and the windows now; their ids."""
    strategy = campaign.strategy
    pending = list(pending.select_related("node", "node__site", "campaign"))
    if not pending:
        return []
    max_down = int(strategy.get("max_down_per_site", 1))
    max_pct = strategy.get("max_site_loss_pct")
    max_parallel = strategy.get("max_parallel")
    site_ids = {cn.node.site_id for cn in pending}
    # Every campaign's nodes in flight at these sites count against the same heat.
    down: dict[int, list[float | None]] = defaultdict(list)
    for site_id, draw in CampaignNode.objects.filter(
        state=N.RUNNING, node__site_id__in=site_ids
    ).values_list("node__site_id", "node__power_w"):
        down[site_id].append(draw)
    output: dict[int, float] = defaultdict(float)
    for site_id, draw in Node.objects.filter(
        site_id__in=site_ids, status=Node.Status.PRODUCTION, power_w__isnull=False
    ).values_list("site_id", "power_w"):
        output[site_id] += draw
    in_flight = campaign.campaign_nodes.filter(state=N.RUNNING).count()
    windows = site_windows(site_ids=sorted(site_ids))
    started, waiting = [], {}
    for cn in pending:
        site = cn.node.site
        if max_parallel is not None and in_flight >= int(max_parallel):
            break
        if not window_open(windows.get(site.pk, []), site.timezone, now):
            nxt = window_next(windows[site.pk], site.timezone, now)
            opens = timezone.localtime(nxt[0], site.tzinfo).strftime("%a %H:%M") if nxt else "?"
            waiting[site.code] = f"outside its maintenance windows (next opens {opens} local)"
            continue
        lost = down[site.pk]
        if len(lost) >= max_down:
            continue
        if lost and (cn.node.power_w is None or None in lost):
            waiting[site.code] = "a node's draw is unknown: one node down at a time"
            continue
        if max_pct is not None and output[site.pk] > 0:
            loss = sum(d for d in lost if d) + (cn.node.power_w or 0)
            if loss * 100 / output[site.pk] > float(max_pct):
                waiting[site.code] = f"would lose more than {float(max_pct):g} % of its heat"
                continue
        try:
            campaign_node_start(cn, now)
        except GatewayPending:
            # its site gateway reads the node first: it starts in a later round, its slot kept
            down[site.pk].append(cn.node.power_w)
            in_flight += 1
            continue
        _advance_node(cn.pk, now)
        down[site.pk].append(cn.node.power_w)
        in_flight += 1
        started.append(cn.pk)
    if waiting and not started and not in_flight:
        note = "Waiting: " + "; ".join(f"{code} {why}" for code, why in sorted(waiting.items()))
        if note[:500] != campaign.reason:
            campaign.reason = note[:500]
            campaign.save(update_fields=["reason"])
            _announce(campaign)
    return started


# --- rollback --------------------------------------------------------------------------------


def _rollback(campaign: Campaign, now: datetime) -> None:
    """Nodes the campaign took go back (after finishing their forward steps); the rest are
    skipped. The same gates as forward: heat budget, windows and ``max_parallel`` for what
    starts, per-step and per-node timeouts, ``retries``, and the error threshold (counted over
    the rollback's own failures since it began or was last resumed), which halts the rollback
    with its reasons; a resume goes on rolling back and tries the failed nodes again. Done when
    every such node rolled back; one that still failed halts it with its reason."""
    if campaign.campaign_nodes.filter(state=N.RUNNING).exclude(phase=ROLLBACK).exists():
        return  # let forward steps finish first: a node is never switched mid-flash

    taken = campaign.campaign_nodes.exclude(phase=ROLLBACK).select_related("node")
    for cn in taken:
        if cn.started_at is None:
            if cn.state == N.PENDING:
                campaign_node_record(
                    cn, now, state=N.SKIPPED, reason="Not started: campaign rolled back."
                )
            continue
        campaign_node_record(
            cn,
            now,
            phase=ROLLBACK,
            state=N.PENDING,
            step=CampaignNode.Step.QUEUED,
            reason="Rollback queued.",
            update=None,
            power_action=None,
            good_reads=0,
            attempts=0,
            reset_at=None,
            heat_back_at=None,
            detail={
                **cn.detail,
                "forward": {
                    "state": cn.state,
                    "reason": cn.reason,
                    "reset_at": cn.reset_at.isoformat() if cn.reset_at else None,
                    "heat_back_at": cn.heat_back_at.isoformat() if cn.heat_back_at else None,
                },
            },
        )
    nodes = campaign.campaign_nodes.filter(phase=ROLLBACK)
    last = campaign.history[-1] if campaign.history else {}
    if last.get("action") == "resume" and "retried" not in last:
        # the first round after a resume of the rollback: the failures it acknowledged are
        # tried again, once (the entry records how many)
        failed = list(nodes.filter(state=N.FAILED).select_related("node"))
        campaign.history = [*campaign.history[:-1], {**last, "retried": len(failed)}]
        campaign.save(update_fields=["history"])
        for cn in failed:
            campaign_node_record(
                cn,
                now,
                state=N.PENDING,
                step=CampaignNode.Step.QUEUED,
                attempts=0,
                reason=f"Rollback tried again after the resume; it failed with: {cn.reason}"[:500],
                update=None,
                power_action=None,
            )
    _requeue_retries(campaign, now, rollback=True)
    why = _error_gate(campaign, rollback=True)
    if why:
        _set_state(campaign, now, S.HALTED, "halt", why)
        return
    if nodes.filter(state__in=(N.PENDING, N.RUNNING)).exists():
        _start_nodes(campaign, nodes.filter(state=N.PENDING), now)
        return
    failed = nodes.filter(state=N.FAILED).select_related("node")
    if failed.exists():
        examples = "; ".join(f"{cn.node.name}: {cn.reason}" for cn in failed[:3])
        _set_state(
            campaign,
            now,
            S.HALTED,
            "halt",
            f"Halted: rollback failed on {failed.count()} node(s). {examples}",
        )
        return
    _set_state(
        campaign,
        now,
        S.ROLLED_BACK,
        "rolled_back",
        f"{nodes.count()} node(s) back on the versions they had.",
    )
