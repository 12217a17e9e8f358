"""Steps 2-3 of a campaign node: every component of the bundle staged, then ONE reset.

``staging``: the bundle's components, in its apply order (which `apps.firmware.manifests`
already checked puts what is required first), each through a `FirmwareUpdate` with
``defer_reset``: the image is sent, the BMC's task followed, and the update stops at
``staged`` (Redfish OnReset: the BMC activates it at the host's next reset). A component that
already reads its target version is skipped, an update of the same image already in flight on
the node is adopted, so a resumed node never sends an image twice. Before anything is sent the
node is checked: its SKU and every image's must be the bundle's, and every dependency of a
component about to change (fwupd's ``requires``) must hold for the versions the node will run
once the bundle is in (shipped by the bundle, or already running); otherwise the node fails
with the reason and nothing is staged.

``applying``: one reset for everything staged, through the power-action machinery
(`apps.hardware.services.power_request`: audited, queued once). It is requested under the
campaign node's row lock and stored on the node in the same transaction, so a worker killed at
any point finds either no request (and asks) or the request (and only follows it): never a
second reset. A node that is off is powered on instead. The versions step then reads every
component back; the staged updates are settled by what it reads (`tracking.
firmware_update_settle`), or failed with the node's reason when the node fails first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.firmware import campaign_steps as steps
from apps.firmware import services as firmware_services
from apps.firmware import tracking
from apps.firmware.campaigns import CampaignNode
from apps.firmware.manifests import describe_bound, version_satisfies
from apps.firmware.models import FirmwareBundle, FirmwareImage, FirmwareUpdate
from apps.hardware.models import PowerAction
from apps.hardware.services import PowerConflict, power_request

Step = CampaignNode.Step


def flash_targets(cn: CampaignNode) -> list[tuple[str, str, FirmwareImage | None]]:
    """(component, version, image) in apply order, for the node's phase."""
    bundle = cn.campaign.bundle
    components = list(bundle.components.select_related("image").order_by("position"))
    if cn.phase != steps.ROLLBACK:
        return [(c.component, c.version, c.image) for c in components]
    out = []
    previous = {k.lower(): v for k, v in cn.previous_versions.items()}
    kept = {}
    if cn.previous_bundle_id:
        kept = {
            c.component.lower(): c.image
            for c in cn.previous_bundle.components.select_related("image")
        }
    for c in components:
        version = previous.get(c.component.lower())
        if version is None:
            continue  # nothing known to go back to
        image = kept.get(c.component.lower())
        if image is None or image.version != version:
            image = FirmwareImage.objects.filter(
                component__iexact=c.component, version=version, sku=bundle.profile.sku
            ).first()
        out.append((c.component, version, image))
    return out


def previous_bundle(cn: CampaignNode, versions: dict[str, str]) -> FirmwareBundle | None:
    """The bundle of the campaign's SKU whose every component the node ran before, if any."""
    bundle = cn.campaign.bundle
    for other in FirmwareBundle.objects.filter(profile_id=bundle.profile_id).exclude(pk=bundle.pk):
        comps = list(other.components.all())
        if comps and all(versions.get(c.component.lower()) == c.version for c in comps):
            return other
    return None


def node_sku(cn: CampaignNode) -> str:
    """The node's SKU by the bundles' rule: its recorded configuration's profile, else its
    model."""
    from apps.attestation.models import NodeConfiguration

    config = (
        NodeConfiguration.objects.filter(node_id=cn.node_id)
        .values_list("release__profile__sku", flat=True)
        .first()
    )
    return config or cn.node.model or ""


def flash_refusal(
    cn: CampaignNode,
    todo: list[tuple[str, str, FirmwareImage | None]],
    running: dict[str, str],
) -> steps.NodeFailed | None:
    """Why nothing may be staged on this node (SKU, dependencies), or None."""
    bundle = cn.campaign.bundle
    sku = bundle.profile.sku
    mine = node_sku(cn)
    if mine.lower() != sku.lower():
        return steps.NodeFailed(
            "sku_mismatch",
            f"{cn.node.name} is SKU {mine or 'unknown'}, the bundle's images are for {sku}: "
            "nothing was staged.",
        )
    for component, version, image in todo:
        if image is not None and image.sku.lower() != mine.lower():
            return steps.NodeFailed(
                "sku_mismatch",
                f"The {component} {version} image is for SKU {image.sku}, {cn.node.name} is "
                f"{mine}: nothing was staged.",
                component=component,
            )
    if cn.phase == steps.ROLLBACK:
        return None  # back to what ran before: its constraints held then
    after = dict(running)
    after.update({c.lower(): v for c, v, _ in flash_targets(cn)})
    changing = {c.lower() for c, _, _ in todo}
    for item in bundle.requires or []:
        who = str(item.get("component", ""))
        if who.lower() not in changing:
            continue
        for need in item.get("requires") or []:
            other = str(need.get("component", ""))
            bound = {k: v for k, v in need.items() if k != "component"}
            will_run = after.get(other.lower())
            try:
                ok = will_run is not None and version_satisfies(will_run, bound)
            except ValueError:
                ok = False
            if not ok:
                return steps.NodeFailed(
                    "requires",
                    f"{who} {after.get(who.lower())} requires {other} {describe_bound(bound)}, "
                    f"but {cn.node.name} would run {other} {will_run or 'unknown'}: nothing "
                    "was staged.",
                    component=who,
                )
    return None


def _staged(cn: CampaignNode) -> list[int]:
    """The node's staged updates (only a campaign stages, a node is in one campaign at a
    time, and a failed attempt settles its own): read from the updates themselves, so a
    round whose record was lost still finds what it staged."""
    return list(
        FirmwareUpdate.objects.filter(
            node_id=cn.node_id, state=FirmwareUpdate.State.STAGED
        ).values_list("pk", flat=True)
    )


def stage(cn: CampaignNode, conf: steps.StepSettings, now: datetime) -> float:
    """Step 2: the current component's update one step further, or the next one sent."""
    update = cn.update
    if update is not None:
        if update.is_active:
            tracking.firmware_update_advance(update.pk, now=now)
            update.refresh_from_db()
        if update.is_active:
            pct = f" {update.percent} %" if update.percent is not None else ""
            what = f"{update.image.component} {update.target_version}: {update.state}{pct}"
            steps.campaign_node_record(cn, now, reason=what)
            return steps.WAIT
        if update.state == FirmwareUpdate.State.FAILED:
            raise steps.NodeFailed(
                update.cause or "update",
                f"{update.image.component} {update.target_version}: {update.reason}",
                update_id=update.pk,
            )
        steps.campaign_node_record(cn, now, update=None)
    items = steps.inventory_items(cn)
    running = steps.versions_of(items)
    uris = {}
    for item in items:
        uri = getattr(item, "uri", "")
        for key in (getattr(item, "id", ""), item.component):
            if uri and key:
                uris.setdefault(str(key).lower(), uri)
    targets = flash_targets(cn)
    todo = [t for t in targets if running.get(t[0].lower()) != t[1]]
    refusal = flash_refusal(cn, todo, running)
    if refusal is not None:
        raise refusal
    done = {
        c.lower()
        for c in FirmwareUpdate.objects.filter(
            node_id=cn.node_id, state=FirmwareUpdate.State.STAGED
        ).values_list("image__component", flat=True)
    }
    for component, version, image in todo:
        if component.lower() in done:
            continue  # staged in this attempt: sent once
        if image is None:
            raise steps.NodeFailed(
                "no_image",
                f"No stored image of {component} {version} to apply.",
                component=component,
            )
        active = FirmwareUpdate.objects.filter(
            node_id=cn.node_id, state__in=FirmwareUpdate.ACTIVE
        ).first()
        if active is not None and active.image_id == image.pk:
            # ours, from a round whose record of it was lost: follow it, never request again
            steps.campaign_node_record(cn, now, update=active, reason=f"{component} {version}")
            return 0.0
        try:
            update = firmware_services.firmware_update_request(
                actor=cn.campaign.approved_by,
                node=cn.node,
                image=image,
                method=conf.method,
                defer_reset=True,
                target_uri=uris.get(component.lower(), ""),
            )
        except firmware_services.UpdateConflict as conflict:
            steps.campaign_node_record(cn, now, reason=str(conflict)[:500])
            return steps.WAIT
        except (firmware_services.UpdateRefused, PermissionDenied) as refused:
            raise steps.NodeFailed("refused", str(refused)) from None
        steps.campaign_node_record(cn, now, update=update, reason=f"{component} {version}")
        tracking.firmware_update_advance(update.pk, now=now)
        return steps.WAIT
    if done:
        return steps.next_step(cn, now, Step.APPLYING)
    return steps.next_step(cn, now, Step.VERSIONS, good_reads=0)


def reset(cn: CampaignNode, conf: steps.StepSettings, now: datetime) -> float:
    """Step 3: one reset for everything staged, requested once, then followed."""
    action = PowerAction.objects.filter(pk=cn.power_action_id).first()
    if action is None:
        if cn.detail.get("reset_requested"):
            raise steps.NodeFailed(
                "reset_failed", "The reset's power action is gone; the node was not reset again."
            )
        return _request_reset(cn, now)
    if action.is_active:
        steps.campaign_node_record(
            cn, now, reason=f"Reset (power action {action.pk}): {action.status}"
        )
        return steps.WAIT
    if action.status == PowerAction.Status.FAILED:
        raise steps.NodeFailed(
            "reset_failed",
            f"The reset failed: {action.error or action.error_cause or 'no reason given'}",
            power_action_id=action.pk,
        )
    return steps.next_step(cn, now, Step.VERSIONS, good_reads=0)


def _request_reset(cn: CampaignNode, now: datetime) -> float:
    # A node that is off boots into the new firmware; one that is on is reset.
    kind = PowerAction.Kind.RESET
    if steps.node_driver(cn).power_state().state == "off":
        kind = PowerAction.Kind.ON
    if PowerAction.objects.filter(node_id=cn.node_id, status__in=PowerAction.ACTIVE).exists():
        steps.campaign_node_record(cn, now, reason="Waiting for another power action to finish.")
        return steps.WAIT
    actor = cn.campaign.approved_by
    try:
        action = power_request(actor=actor, node=cn.node, kind=kind)
    except PowerConflict:
        return steps.WAIT  # one appeared since the look above: wait for it, then ask again
    except PermissionDenied as refused:
        raise steps.NodeFailed("refused", f"The reset was refused: {refused}") from None
    staged = _staged(cn)
    cn.detail = {**cn.detail, "reset_requested": True}
    steps.campaign_node_record(
        cn,
        now,
        power_action=action,
        reset_at=cn.reset_at or now,
        detail=cn.detail,
        reason=f"One reset for {len(staged)} staged component(s) (power action {action.pk}).",
    )
    audit_record(
        actor=actor,
        action="firmware.campaign_reset",
        target=cn.node,
        result=AuditEvent.Result.PENDING,
        detail={
            "campaign_id": cn.campaign_id,
            "phase": cn.phase,
            "power_action_id": action.pk,
            "kind": kind,
            "staged_update_ids": staged,
        },
    )
    return steps.WAIT


def settle_staged(cn: CampaignNode, now: datetime, running: dict[str, str] | None, why: str = ""):
    """The staged updates of this attempt: succeeded or failed by the versions read back
    (``running``), or failed with ``why`` when the node failed first."""
    for update_id in _staged(cn):
        update = FirmwareUpdate.objects.filter(pk=update_id).select_related("image").first()
        if update is None or update.state != FirmwareUpdate.State.STAGED:
            continue
        version = (running or {}).get(update.image.component.lower())
        failure = ""
        if running is None and cn.power_action_id:
            failure = f"Not confirmed after the node's reset: the campaign node failed ({why})"
        elif running is None:
            failure = f"Staged, never reset: the campaign node failed first ({why}); the BMC "
            failure += "may still apply it at the node's next reset."
        tracking.firmware_update_settle(update_id, now=now, version=version, failure=failure)


def attempt_fields() -> dict[str, Any]:
    """What a new attempt (a retry, the rollback) starts from: nothing staged, no reset."""
    return {"update": None, "power_action": None, "good_reads": 0}
