"""One node of a firmware campaign, one step per call, every step in the database.

`campaign_node_advance` looks at the node's ``step`` and does at most one round of it:

1. ``pre_hook``: POST the node to the strategy's pre-hook URL (drain), until a 2xx answer;
2. ``staging``/``applying`` (`apps.firmware.campaign_flash`): every component of the bundle
   staged in its apply order (SKU and dependencies checked first), then ONE reset of the node
   through the power-action machinery for all of them. A component that already reads the
   target version is skipped: a worker killed at any point never sends an image twice, and the
   reset is stored with its request, so it is never asked twice;
3. ``versions``: ``stable_reads`` consecutive good BMC reads, each reporting every component at
   the bundle's version;
4. ``attesting``: a fresh TPM quote of the booted node equals the bundle's predicted PCRs.
   During this step the node's recorded configuration accepts old ∪ new (its badge does not
   flash red while it reboots); a quote of the old release keeps the step waiting, a quote
   matching neither fails with the attestation's explanation (which PCR, which event); an
   agent that never answers is a node that never booted: failure at its timeout, never success;
5. ``thermal``: the node draws again (``power_back_pct`` of its pre-flash draw, or of its
   nominal power when that was unknown) and the site's supply temperature is back at or above
   the contract minimum (or the pre-flash level, when that was lower). No fresh meter reading:
   the supply is *unknown*, never assumed. ``thermal_unknown: "warn"`` (default) passes on the
   node's draw alone and keeps the warning on the node; ``"wait"`` waits and fails at timeout;
6. ``post_hook``: POST to the post-hook URL (undrain).

Each step has its own timeout (``step_minutes`` in the strategy, defaults below). Every change
of step or state is recorded on the `CampaignNode` (timeline in ``detail["steps"]``), audited
and pushed to the campaign's websocket group. Rollback runs the same steps towards the versions
the node had (``phase = "rollback"``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from apps.attestation import services as attestation
from apps.attestation.models import AgentEndpoint, FirmwareRelease, NodeConfiguration
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.crypto import CredentialError
from apps.core.realtime import broadcast
from apps.firmware import campaign_flash as flash
from apps.firmware.campaign_checks import hook_body, hook_post, site_supply_c
from apps.firmware.campaigns import CampaignNode
from apps.firmware.models import BundlePrediction, FirmwareUpdate
from apps.gateways import firmware as via_gateway
from apps.hardware.drivers.base import BmcError, driver_for
from apps.hardware.protocols import endpoint_for

logger = logging.getLogger(__name__)

Step = CampaignNode.Step
NState = CampaignNode.State
ROLLBACK = "rollback"
DEFAULT_STEP_MINUTES = {
    Step.PRE_HOOK: 10,
    Step.STAGING: 45,  # one component's image and BMC task
    Step.APPLYING: 20,  # its reset and version read back
    Step.VERSIONS: 10,
    Step.ATTESTING: 20,
    Step.THERMAL: 30,
    Step.POST_HOOK: 10,
}
WAIT = 10.0  # seconds between looks, as a hint to the runner


@dataclass(frozen=True)
class StepSettings:
    """The executor's part of a campaign's strategy (defaults for every key it omits)."""

    step_minutes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_STEP_MINUTES))
    stable_reads: int = 3
    power_back_pct: float = 50.0
    thermal_unknown: str = "warn"  # or "wait"
    hook_timeout_s: float = 10.0
    node_timeout_minutes: int = 0  # per attempt, all steps; 0: only the steps' own
    method: str = FirmwareUpdate.Method.PUSH
    pre_hook: str = ""
    post_hook: str = ""

    @classmethod
    def from_strategy(cls, strategy: dict[str, Any]) -> StepSettings:
        minutes = dict(DEFAULT_STEP_MINUTES)
        minutes.update({str(k): int(v) for k, v in (strategy.get("step_minutes") or {}).items()})
        return cls(
            step_minutes=minutes,
            stable_reads=max(1, int(strategy.get("stable_reads", 3))),
            power_back_pct=float(strategy.get("power_back_pct", 50.0)),
            thermal_unknown="wait" if strategy.get("thermal_unknown") == "wait" else "warn",
            hook_timeout_s=float(strategy.get("hook_timeout_s", 10.0)),
            node_timeout_minutes=int(strategy.get("node_timeout_minutes") or 0),
            method=strategy.get("method") or FirmwareUpdate.Method.PUSH,
            pre_hook=strategy.get("pre_hook") or "",
            post_hook=strategy.get("post_hook") or "",
        )


class NodeFailed(Exception):
    """The node's current step failed for good: ``reason`` says why (its ``cause`` a code)."""

    def __init__(self, cause: str, reason: str, **detail: Any):
        super().__init__(reason)
        self.cause, self.reason, self.detail = cause, reason, detail


# --- recording -------------------------------------------------------------------------------


def campaign_group(campaign_id: int) -> str:
    return f"campaign.{campaign_id}.progress"


def campaign_node_record(cn: CampaignNode, now: datetime, **fields: Any) -> CampaignNode:
    """Saves ``fields``; a change of step or state goes to the timeline, the audit and the
    campaign's websocket group."""
    before = (cn.step, cn.state)
    for name, value in fields.items():
        setattr(cn, name, value)
    changed = (cn.step, cn.state) != before
    if changed:
        cn.step_started_at = now
        timeline = list(cn.detail.get("steps", []))
        timeline.append(
            {"step": cn.step, "state": cn.state, "at": now.isoformat(), "reason": cn.reason[:300]}
        )
        cn.detail = {**cn.detail, "steps": timeline}
        fields = {**fields, "step_started_at": now, "detail": cn.detail}
    cn.save(update_fields=list(fields))
    if changed:
        result = {
            NState.SUCCEEDED: AuditEvent.Result.OK,
            NState.ROLLED_BACK: AuditEvent.Result.OK,
            NState.FAILED: AuditEvent.Result.FAILED,
        }.get(cn.state, AuditEvent.Result.PENDING)
        audit_record(
            actor=None,
            action="firmware.campaign_node",
            target=cn.node,
            result=result,
            detail={
                "campaign_id": cn.campaign_id,
                "phase": cn.phase,
                "from": f"{before[0]}/{before[1]}",
                "to": f"{cn.step}/{cn.state}",
                "reason": cn.reason[:300],
            },
        )
        broadcast(
            campaign_group(cn.campaign_id),
            {
                "type": "campaign.node",
                "campaign_id": cn.campaign_id,
                "node_id": cn.node_id,
                "node": cn.node.name,
                "wave": cn.wave_id,
                "phase": cn.phase,
                "step": cn.step,
                "state": cn.state,
                "reason": cn.reason,
            },
        )
    return cn


def campaign_node_fail(cn: CampaignNode, now: datetime, failed: NodeFailed) -> CampaignNode:
    flash.settle_staged(cn, now, None, failed.reason[:200])
    detail = {**cn.detail, "cause": failed.cause, **failed.detail}
    cn.detail = detail
    return campaign_node_record(
        cn,
        now,
        state=NState.FAILED,
        reason=failed.reason[:500],
        finished_at=now,
        detail=detail,
    )


# --- reading the node and its site -----------------------------------------------------------


def node_driver(cn: CampaignNode):
    """The node's BMC; for a gateway site's node, its gateway (a read asked in one round is
    answered in a later one: `GatewayPending` until then, the round waits)."""
    port = via_gateway.campaign_port(cn)
    if port is not None:
        return port
    return driver_for(endpoint_for(cn.node, "redfish"), timeout=settings.BMC_TIMEOUT)


def inventory_items(cn: CampaignNode) -> list:
    """The BMC's firmware components now (`FirmwareComponent`: id, version, inventory URI)."""
    return list(node_driver(cn).firmware())


def versions_of(found: list) -> dict[str, str]:
    """{component (lower): version} (id first, then component)."""
    out = {str(f.component).lower(): f.version for f in found}
    out.update({str(getattr(f, "id", "") or "").lower(): f.version for f in found})
    out.pop("", None)
    return out


def _inventory(cn: CampaignNode) -> dict[str, str]:
    """{component (lower): version} as the BMC reports it now."""
    return versions_of(inventory_items(cn))


def _live_power(cn: CampaignNode) -> float | None:
    try:
        watts = node_driver(cn).system_power_watts()
    except (BmcError, CredentialError):
        watts = None
    return watts if watts is not None else None


# --- the steps -------------------------------------------------------------------------------


def campaign_node_start(cn: CampaignNode, now: datetime) -> CampaignNode:
    """Takes a pending node into its first step: records what it runs, draws and heats."""
    conf = StepSettings.from_strategy(cn.campaign.strategy)
    fields: dict[str, Any] = {"attempts": cn.attempts + 1, **flash.attempt_fields()}
    detail = {**cn.detail, "reset_requested": False}
    if cn.phase != ROLLBACK and not AgentEndpoint.objects.filter(node_id=cn.node_id).exists():
        # Step 5 could never pass: refuse before anything is flashed.
        return campaign_node_record(
            cn,
            now,
            attempts=fields["attempts"],
            state=NState.FAILED,
            reason="No attestation agent is registered for this node: its boot could never be "
            "attested, so nothing was flashed.",
            finished_at=now,
            detail={**detail, "cause": "no_agent"},
        )
    if cn.phase != ROLLBACK:
        try:
            versions = _inventory(cn)
        except (BmcError, CredentialError) as error:
            versions = {}
            detail["start_warning"] = f"BMC unreadable at start: {error}"[:300]
        if not cn.previous_versions and versions:
            fields["previous_versions"] = versions
            fields["previous_bundle"] = flash.previous_bundle(cn, versions)
    if cn.phase == ROLLBACK or "old_release" not in detail:
        # A retry keeps the first attempt's baseline: by then the node may already run (and
        # be recorded on) the new release, and draw less.
        if cn.phase != ROLLBACK:
            config = NodeConfiguration.objects.filter(node_id=cn.node_id).select_related("release")
            config = config.first()
            detail["old_release"] = config.release.version if config else ""
        draw = cn.node.power_w
        detail["pre_power_w"] = draw if draw is not None else _live_power(cn)
        detail["pre_supply_c"] = site_supply_c(cn.node.site_id, now)
    detail["attempt_started_at"] = now.isoformat()
    first = Step.PRE_HOOK if conf.pre_hook else Step.STAGING
    return campaign_node_record(
        cn,
        now,
        state=NState.RUNNING,
        step=first,
        started_at=cn.started_at or now,
        reason="",
        detail=detail,
        **fields,
    )


def campaign_node_advance(cn_id: int, *, now: datetime | None = None) -> float | None:
    """One round of a running node's step; seconds until the next look (None: finished)."""
    now = now or timezone.now()
    started = timezone.now()
    with transaction.atomic():
        cn = (
            CampaignNode.objects.select_for_update(of=("self",))
            .select_related("campaign", "campaign__bundle", "node", "node__site", "update")
            .filter(pk=cn_id)
            .first()
        )
        if cn is None or cn.state != NState.RUNNING:
            return None
        conf = StepSettings.from_strategy(cn.campaign.strategy)
        # A step that passed at once hands over to the next in the same round (a wave's slot
        # is not left idle for a round per step); a step that waits, or sent something to the
        # BMC, ends the round.
        handlers = _handlers()
        for _ in range(len(handlers)):
            step = cn.step
            handler = handlers.get(step)
            if handler is None:
                campaign_node_fail(cn, now, NodeFailed("internal", f"Unknown step {step!r}."))
                return None
            try:
                retry = handler(cn, conf, now)
            except via_gateway.GatewayPending:
                retry = WAIT  # asked of the site gateway: read in a later round
                break
            except NodeFailed as failed:
                campaign_node_fail(cn, now, failed)
                return None
            except (BmcError, CredentialError) as error:
                if not getattr(error, "transient", False):
                    campaign_node_fail(
                        cn, now, NodeFailed(getattr(error, "cause", "bmc"), f"BMC: {error}")
                    )
                    return None
                retry = WAIT  # the BMC may be rebooting: the step's timeout decides
            via_gateway.step_done(f"cnode:{cn.pk}", started)  # its gateway answers are spent
            if retry != 0.0 or cn.state != NState.RUNNING or cn.step == step:
                break
        if cn.state == NState.RUNNING and cn.step_started_at is not None:
            limit = conf.step_minutes.get(cn.step, 30)
            if now - cn.step_started_at >= timedelta(minutes=limit):
                campaign_node_fail(cn, now, _timed_out(cn, limit))
                return None
        began = cn.detail.get("attempt_started_at")
        if cn.state == NState.RUNNING and began and conf.node_timeout_minutes:
            limit = conf.node_timeout_minutes
            if now - datetime.fromisoformat(began) >= timedelta(minutes=limit):
                campaign_node_fail(cn, now, _timed_out(cn, limit, "the node's timeout"))
                return None
        return retry if cn.state == NState.RUNNING else None


def _handlers() -> dict[str, Any]:
    return {
        Step.PRE_HOOK: _pre_hook,
        Step.STAGING: flash.stage,
        Step.APPLYING: flash.reset,
        Step.VERSIONS: _versions,
        Step.ATTESTING: _attesting,
        Step.THERMAL: _thermal,
        Step.POST_HOOK: _post_hook,
    }


def _timed_out(cn: CampaignNode, minutes: int, bound: str = "") -> NodeFailed:
    waiting = cn.detail.get("waiting", "")
    words = {
        Step.ATTESTING: "the node did not boot into an attestable state"
        if waiting == "unreachable"
        else "the quote never matched the bundle's prediction",
        Step.THERMAL: "the heat did not come back",
        Step.VERSIONS: "the BMC did not report every component's version stably",
    }.get(cn.step, "no progress")
    last = f" ({cn.reason})" if cn.reason else ""
    within = f"within {minutes} min" + (f" ({bound})" if bound else "")
    with translation.override(None):  # stored English: pages translate it (campaign_text)
        step = str(cn.get_step_display())
    return NodeFailed("timeout", f"{step}: {words} {within}{last}.")


def next_step(cn: CampaignNode, now: datetime, step: str, **fields: Any) -> float:
    campaign_node_record(cn, now, step=step, reason="", **fields)
    return 0.0


def _pre_hook(cn: CampaignNode, conf: StepSettings, now: datetime) -> float:
    ok, said = hook_post(conf.pre_hook, hook_body(cn, "pre"), conf.hook_timeout_s)
    if ok:
        return next_step(cn, now, Step.STAGING)
    campaign_node_record(cn, now, reason=f"Pre-hook answered {said}; asking again.")
    return WAIT


def _post_hook(cn: CampaignNode, conf: StepSettings, now: datetime) -> float | None:
    ok, said = hook_post(conf.post_hook, hook_body(cn, "post"), conf.hook_timeout_s)
    if ok:
        _finish(cn, now)
        return None
    campaign_node_record(cn, now, reason=f"Post-hook answered {said}; asking again.")
    return WAIT


def _finish(cn: CampaignNode, now: datetime) -> None:
    done = NState.ROLLED_BACK if cn.phase == ROLLBACK else NState.SUCCEEDED
    warning = cn.detail.get("warning", "")
    campaign_node_record(cn, now, step=Step.DONE, state=done, finished_at=now, reason=warning)


def _versions(cn: CampaignNode, conf: StepSettings, now: datetime) -> float:
    """Step 4: ``stable_reads`` consecutive reads, each with every component as wanted."""
    try:
        running = _inventory(cn)
    except (BmcError, CredentialError) as error:
        campaign_node_record(cn, now, good_reads=0, reason=f"BMC read failed: {error}"[:500])
        return WAIT
    wrong = [
        f"{c} {running.get(c.lower()) or 'unknown'} (expected {v})"
        for c, v, _ in flash.flash_targets(cn)
        if running.get(c.lower()) != v
    ]
    if wrong:
        campaign_node_record(cn, now, good_reads=0, reason="BMC reports " + ", ".join(wrong))
        return WAIT
    reads = cn.good_reads + 1
    if reads >= conf.stable_reads:
        flash.settle_staged(cn, now, running)
        return next_step(cn, now, Step.ATTESTING, good_reads=reads)
    campaign_node_record(
        cn, now, good_reads=reads, reason=f"{reads}/{conf.stable_reads} good reads"
    )
    return WAIT


def _expected(cn: CampaignNode) -> tuple[BundlePrediction | None, str, str]:
    """(prediction, release to record, the other release accepted meanwhile)."""
    bundle = cn.campaign.bundle
    old = cn.detail.get("old_release", "")
    if cn.phase == ROLLBACK:
        target = cn.previous_bundle
        new_release, other = old, bundle.release_version
    else:
        target = bundle
        new_release, other = bundle.release_version, old
    prediction = (
        BundlePrediction.objects.filter(bundle=target, node_id=cn.node_id).first()
        if target is not None
        else None
    )
    return prediction, new_release, other


def _configure(cn: CampaignNode, release_version: str, also: str) -> None:
    """Records the release the node should now run, accepting ``also`` beside it (old ∪ new
    during the step; only the new one once it passed: ``also`` empty)."""
    config = NodeConfiguration.objects.filter(node_id=cn.node_id).select_related("release").first()
    if config is None or not release_version:
        return
    release = FirmwareRelease.objects.filter(
        profile_id=config.release.profile_id, version=release_version
    ).first()
    if release is None:
        return
    variants = {k: v for k, v in (config.variants or {}).items() if k != "release_versions"}
    if also and also != release_version:
        variants["release_versions"] = [also]
    if config.release_id != release.pk or variants != config.variants:
        attestation.configuration_set(
            node=cn.node, release=release, config=config.to_config(), variants=variants
        )


def _gateway_verdict(cn: CampaignNode, now: datetime):
    """The latest verdict recorded for the node since this attempt first asked its gateway
    (the first ask only notes where the attempt's verdicts begin)."""
    from apps.attestation.models import Attestation

    attempt = f"{cn.phase}:{cn.attempts}"
    noted = cn.detail.get("gateway_quotes") or {}
    if noted.get("attempt") != attempt:
        last = Attestation.objects.filter(node_id=cn.node_id).order_by("-pk").first()
        cn.detail = {
            **cn.detail,
            "gateway_quotes": {"attempt": attempt, "after": last.pk if last else 0},
        }
        campaign_node_record(cn, now, detail=cn.detail)
        return None
    return (
        Attestation.objects.filter(node_id=cn.node_id, pk__gt=noted["after"])
        .order_by("-pk")
        .first()
    )


def _attesting(cn: CampaignNode, conf: StepSettings, now: datetime) -> float:
    """Step 5: a fresh quote equals the prediction of what the node should now run."""
    prediction, release, other = _expected(cn)
    if prediction is None or not prediction.predicted:
        if cn.phase == ROLLBACK:
            cn.detail = {**cn.detail, "warning": "No prediction of the previous bundle: rollback "
                         "not attested."}  # fmt: skip
            return next_step(cn, now, Step.THERMAL, detail=cn.detail)
        raise NodeFailed("no_prediction", "No PCR prediction of the bundle for this node.")
    _configure(cn, release, other)
    try:
        result = attestation.attest(node_id=cn.node_id)
        if result is None:  # sent to the site's gateway: judged once a verdict came back
            result = _gateway_verdict(cn, now)
            if result is None:
                campaign_node_record(cn, now, reason="Waiting for the site gateway's quote.")
                return WAIT
    except attestation.EnrolmentFailed as error:
        # not enrolled yet and its agent does not answer: as good as unreachable
        result, unreachable = None, str(error)
    except attestation.AttestationError as error:
        raise NodeFailed("no_agent", f"Cannot attest: {error}") from None
    else:
        unreachable = result.reason if result.verdict == "unreachable" else ""
    if result is None or result.verdict == "unreachable":
        cn.detail = {**cn.detail, "waiting": "unreachable"}
        campaign_node_record(
            cn, now, reason=f"Agent unreachable: {unreachable}"[:500], detail=cn.detail
        )
        return WAIT
    quoted = {str(p): v for p, v in (result.pcrs or {}).get("sha256", {}).items()}
    expected = {str(p): v for p, v in prediction.pcrs.items()}
    wanted = [expected, *({str(p): v for p, v in a.items()} for a in prediction.acceptable)]
    if any(all(quoted.get(p) == v for p, v in w.items()) for w in wanted):
        _configure(cn, release, "")
        return next_step(cn, now, Step.THERMAL, detail={**cn.detail, "attestation_id": result.pk})
    if result.verdict == "trusted":  # still the other release: not booted into the new one yet
        cn.detail = {**cn.detail, "waiting": "old_release"}
        campaign_node_record(cn, now, reason=f"Still measures release {other}.", detail=cn.detail)
        return WAIT
    where = [
        {"pcr": d.get("pcr"), "index": d.get("index"), "expected": d.get("expected"),
         "actual": d.get("actual")}
        for d in result.divergences or []
    ]  # fmt: skip
    raise NodeFailed(
        "attestation",
        f"Attestation {result.verdict}: {result.reason or result.reason_code}",
        divergences=where,
        attestation_id=result.pk,
    )


def _thermal(cn: CampaignNode, conf: StepSettings, now: datetime) -> float:
    """Step 6: the node draws again and the site's supply is back (unknown stays unknown)."""
    power = _live_power(cn)
    pre = cn.detail.get("pre_power_w") or cn.node.nominal_power_w
    need = (pre or 0) * conf.power_back_pct / 100
    power_ok = power is not None and power > 0 and power >= need
    supply = site_supply_c(cn.node.site_id, now)
    contract = float(cn.node.site.contract_min_supply_c)
    pre_supply = cn.detail.get("pre_supply_c")
    floor = min(contract, pre_supply) if pre_supply is not None else contract
    said = f"draw {power if power is not None else 'unknown'} W (needs {need:.0f} W)"
    detail = dict(cn.detail)
    if supply is None:
        said += ", supply temperature unknown"
        supply_ok = conf.thermal_unknown == "warn"
        if supply_ok and power_ok:
            detail["warning"] = "Supply temperature unknown (no fresh meter reading): heat gate "
            detail["warning"] += "passed on the node's draw alone."
    else:
        said += f", supply {supply:.1f} °C (needs {floor:.1f} °C)"
        supply_ok = supply >= floor
    if power_ok and supply_ok:
        cn.detail = detail
        nxt = Step.POST_HOOK if conf.post_hook else Step.DONE
        if nxt == Step.DONE:
            campaign_node_record(cn, now, heat_back_at=now, detail=detail)
            _finish(cn, now)
            return 0.0
        return next_step(cn, now, nxt, heat_back_at=now, detail=detail)
    campaign_node_record(cn, now, reason=said[:500])
    return WAIT
