"""Firmware campaigns on pages: the list, the "new campaign" form with its dry run, and one
campaign with the actions its state allows (approve hidden for, and refused to, its creator)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts import access
from apps.firmware.campaign_plan import Strategy
from apps.firmware.campaign_services import (
    TRANSITIONS,
    CampaignConflict,
    allowed_actions,
    campaign_create,
    campaign_preview,
    campaign_transition,
)
from apps.firmware.campaign_spec import CampaignSpecError
from apps.firmware.models import FirmwareBundle

NUMBERS = (
    ("soak_minutes", "Soak between waves (min)"),
    ("max_down_per_site", "Max nodes down per site"),
    ("max_site_loss_pct", "Max % of a site's heat lost"),
    ("max_parallel", "Max nodes in flight (fleet)"),
    ("node_minutes", "Expected minutes per node"),
    ("node_timeout_minutes", "Timeout per node (min)"),
    ("retries", "Retries per node"),
    ("success_threshold_pct", "Success threshold to advance (%)"),
    ("error_threshold_count", "Halt after N failures"),
    ("error_threshold_pct", "Halt above % failures"),
    ("error_min_sample", "…after at least N nodes"),
)


def _words(text: str) -> list[Any]:
    items = [w.strip() for w in text.replace("\n", ",").split(",") if w.strip()]
    return [int(w) if w.isdigit() else w for w in items]


def _spec(post: Any) -> dict[str, Any]:
    """The campaign file's mapping from the form (checked by the same `spec_load`)."""
    current = {}
    for pair in _words(post.get("current", "")):
        component, _, version = str(pair).partition("=")
        if not version:
            raise CampaignSpecError(f"Current versions: write COMPONENT=VERSION, not {pair!r}.")
        current[component.strip()] = version.strip()
    strategy: dict[str, Any] = {"canary": post.get("canary") == "on"}
    if post.get("waves", "").strip():
        strategy["waves"] = post["waves"]
    for key, label in NUMBERS:
        text = post.get(key, "").strip()
        if text:
            try:
                strategy[key] = float(text) if "." in text else int(text)
            except ValueError:
                raise CampaignSpecError(f"{label}: {text!r} is not a number.") from None
    bundle = post.get("bundle", "")
    return {
        "name": post.get("name", "").strip(),
        "bundle": int(bundle) if bundle.isdigit() else None,
        "targets": {
            "sites": _words(post.get("sites", "")),
            "nodes": _words(post.get("nodes", "")),
            "current": current,
        },
        "strategy": strategy,
    }


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = access.campaigns_for_user(request.user).select_related(
        "bundle__profile", "created_by", "approved_by"
    )
    return render(request, "firmware/campaigns.html", {"campaigns": campaigns[:200]})


@login_required
@require_http_methods(["GET", "POST"])
def campaign_new(request: HttpRequest) -> HttpResponse:
    access.campaigns_for_user(request.user)
    defaults = Strategy()
    form = request.POST if request.method == "POST" else None
    context: dict[str, Any] = {
        "bundles": FirmwareBundle.objects.select_related("profile"),
        "form": form,
        "numbers": [(k, label, getattr(defaults, k)) for k, label in NUMBERS],
        "default_waves": ",".join(defaults.waves),
        "plan": None,
        "refusal": "",
    }
    if form is None:
        return render(request, "firmware/campaign_new.html", context)
    try:
        spec = _spec(form)
        if form.get("intent") == "create":
            campaign, _ = campaign_create(spec=spec, actor=request.user)
            messages.success(
                request, f"Campaign {campaign.name} created; another engineer must approve it."
            )
            return redirect("firmware-campaign", pk=campaign.pk)
        _, plan = campaign_preview(spec=spec, user=request.user)
        context["plan"] = plan.as_dict()
    except CampaignSpecError as exc:
        context["refusal"] = str(exc)
    return render(
        request, "firmware/campaign_new.html", context, status=400 if context["refusal"] else 200
    )


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = access.campaign_for_user(request.user, pk)
    nodes = campaign.campaign_nodes.select_related("node__site", "wave").order_by(
        "wave__index", "id"
    )
    return render(
        request,
        "firmware/campaign_detail.html",
        {
            "campaign": campaign,
            "waves": campaign.waves.all(),
            "nodes": nodes[:500],
            "node_total": campaign.campaign_nodes.count(),
            "actions": allowed_actions(campaign, request.user),
            "is_creator": campaign.created_by_id == request.user.pk,
            "plan": campaign.plan,
        },
    )


@login_required
@require_POST
def campaign_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    campaign = access.campaign_for_user(request.user, pk)
    if action not in TRANSITIONS:
        messages.error(request, f"Unknown action {action!r}.")
        return redirect("firmware-campaign", pk=campaign.pk)
    try:
        campaign = campaign_transition(
            campaign_id=campaign.pk,
            action=action,
            actor=request.user,
            note=request.POST.get("note", "")[:300],
        )
    except CampaignConflict as exc:  # a PermissionDenied (four eyes) stays a 403
        messages.error(request, str(exc))
        return redirect("firmware-campaign", pk=campaign.pk)
    messages.success(request, f"Campaign {campaign.name}: {action} done, now {campaign.state}.")
    return redirect("firmware-campaign", pk=campaign.pk)
