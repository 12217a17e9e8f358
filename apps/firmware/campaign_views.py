"""Firmware campaigns on pages: the list, the "new campaign" form with its dry run, and one
campaign with the actions its state allows (approve hidden for, and refused to, its creator)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts import access
from apps.firmware.campaign_form import (
    NUMBERS,
    PREFILL,
    form_initial,
    form_origin,
    form_spec,
    origin_check,
)
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
from apps.firmware.campaign_text import said
from apps.firmware.campaigns import Campaign, CampaignNode
from apps.firmware.models import FirmwareBundle


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = access.campaigns_for_user(request.user).select_related(
        "bundle__profile", "created_by", "approved_by"
    )
    return render(request, "firmware/campaigns.html", {"campaigns": campaigns[:200]})


@login_required
@require_http_methods(["GET", "POST"])
def campaign_new(request: HttpRequest) -> HttpResponse:
    """The form; a POST previews its dry run (htmx: the dry-run fragment only) or creates it.
    A GET with a link's query (the compliance view's) prefills it and runs the dry run."""
    access.campaigns_for_user(request.user)
    defaults = Strategy()
    bundles = list(FirmwareBundle.objects.select_related("profile"))
    form = request.POST if request.method == "POST" else None
    initial = form_initial(request.GET, bundles) if form is None else {}
    query = form_origin(form if form is not None else request.GET)
    values: dict[str, Any] = {"waves": ",".join(defaults.waves), "canary": "on"}
    values |= {k: "" if getattr(defaults, k) is None else getattr(defaults, k) for k, _ in NUMBERS}
    if form is not None:
        values = {k: form.get(k, "") for k in (*values, *PREFILL)}
        values["canary"] = "on" if form.get("canary") == "on" else "off"
    else:
        values |= initial
    context: dict[str, Any] = {
        "bundles": bundles,
        "values": values,
        "prefilled": bool(initial.get("bundle")),
        "origin_query": query,
        "numbers": NUMBERS,
        "plan": None,
        "origin": None,
        "refusal": "",
    }
    if form is None:
        return render(request, "firmware/campaign_new.html", context)
    try:
        spec = form_spec(form)
        if form.get("intent") == "create":
            campaign, _plan = campaign_create(spec=spec, actor=request.user)
            messages.success(
                request,
                _("Campaign %(name)s created; another engineer must approve it.")
                % {"name": campaign.name},
            )
            url = reverse("firmware-campaign", args=[campaign.pk])
            if request.htmx:
                return HttpResponse(status=204, headers={"HX-Redirect": url})
            return redirect(url)
        _spec, plan = campaign_preview(spec=spec, user=request.user)
        context["plan"] = plan.as_dict()
        if query is not None:
            nodes = access.compliance_nodes_for_user(request.user)
            context["origin"] = origin_check(nodes=nodes, query=query, plan=plan)
    except CampaignSpecError as exc:
        context["refusal"] = exc.text
    status = 400 if context["refusal"] else 200
    if request.htmx:
        return render(request, "firmware/_campaign_dry_run.html", context, status=status)
    return render(request, "firmware/campaign_new.html", context, status=status)


NODE_ROWS = 500  # the page shows this many nodes; the API pages through all of them
# Segments of a progress bar, in order: (state, bar class).
SEGMENTS = (
    ("succeeded", "bg-success"),
    ("rolled_back", "bg-info"),
    ("failed", "bg-danger"),
    ("running", "progress-bar-striped progress-bar-animated"),
    ("skipped", "bg-secondary"),
)


def _bar(counts: dict[str, int], total: int) -> dict[str, Any]:
    """A progress bar: its segments (state, count, % width, class) and the done share."""
    total = max(total, 1)
    segments = [
        {"state": state, "count": counts.get(state, 0), "pct": counts.get(state, 0) * 100 / total,
         "css": css, "label": str(CampaignNode.State(state).label).lower()}
        for state, css in SEGMENTS
        if counts.get(state)
    ]  # fmt: skip
    done = sum(counts.get(s, 0) for s in ("succeeded", "failed", "rolled_back", "skipped"))
    return {"segments": segments, "done": done, "total": total, "counts": counts}


def _live_context(campaign: Campaign, user: Any) -> dict[str, Any]:
    """The refreshable part of the campaign page: state, reason, actions and progress bars."""
    per_wave: dict[int, dict[str, int]] = defaultdict(dict)
    for wave_id, state, n in (
        campaign.campaign_nodes.values_list("wave_id", "state").annotate(n=Count("id")).order_by()
    ):
        per_wave[wave_id][state] = n
    waves = list(campaign.waves.all())
    for wave in waves:
        wave.bar = _bar(per_wave[wave.pk], wave.node_count)
    overall: dict[str, int] = defaultdict(int)
    for counts in per_wave.values():
        for state, n in counts.items():
            overall[state] += n
    return {
        "campaign": campaign,
        "waves": waves,
        "bar": _bar(dict(overall), sum(overall.values())),
        "actions": allowed_actions(campaign, user),
        "is_creator": campaign.created_by_id == user.pk,
    }


# A history entry's action, as a page names it (the stored entry keeps the action's name).
HISTORY_ACTIONS = {
    "approve": pgettext_lazy("campaign history", "approved"),
    "start": pgettext_lazy("campaign history", "started"),
    "pause": pgettext_lazy("campaign history", "paused"),
    "resume": pgettext_lazy("campaign history", "resumed"),
    "abort": pgettext_lazy("campaign history", "aborted"),
    "rollback": pgettext_lazy("campaign history", "rollback asked"),
    "halt": pgettext_lazy("campaign history", "halted"),
    "complete": pgettext_lazy("campaign history", "completed"),
    "rolled_back": pgettext_lazy("campaign history", "rolled back"),
}


def _history(campaign: Campaign) -> list[dict[str, Any]]:
    """The campaign's history for the page: local times, actions and states named."""
    states = dict(Campaign.State.choices)
    rows = []
    for entry in campaign.history:
        at = parse_datetime(str(entry.get("at", "")))
        rows.append(
            {
                "at": at,
                "by": "" if entry.get("by") == "system" else entry.get("by", ""),
                "action": HISTORY_ACTIONS.get(entry.get("action", ""), entry.get("action", "")),
                "from": states.get(entry.get("from", ""), entry.get("from", "")),
                "to": states.get(entry.get("to", ""), entry.get("to", "")),
                "note": entry.get("note", ""),
            }
        )
    return rows


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = access.campaign_for_user(request.user, pk)
    context = _live_context(campaign, request.user)
    if request.htmx and request.htmx.target == "campaign-live":
        return render(request, "firmware/_campaign_live.html", context)
    nodes = campaign.campaign_nodes.select_related("node__site", "wave").order_by(
        "wave__index", "id"
    )
    context |= {
        "nodes": nodes[:NODE_ROWS],
        "node_total": sum(context["bar"]["counts"].values()),
        "node_rows": NODE_ROWS,
        "plan": campaign.plan,
        "history": _history(campaign),
        "labels": {
            "step": dict(CampaignNode.Step.choices),
            "state": dict(CampaignNode.State.choices),
        },
    }
    return render(request, "firmware/campaign_detail.html", context)


@login_required
@require_POST
def campaign_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    campaign = access.campaign_for_user(request.user, pk)
    if action not in TRANSITIONS:
        messages.error(request, _("Unknown action %(action)r.") % {"action": action})
        return redirect("firmware-campaign", pk=campaign.pk)
    try:
        campaign = campaign_transition(
            campaign_id=campaign.pk,
            action=action,
            actor=request.user,
            note=request.POST.get("note", "")[:300],
        )
    except CampaignConflict as exc:  # a PermissionDenied (four eyes) stays a 403
        messages.error(request, said(str(exc)))
        return redirect("firmware-campaign", pk=campaign.pk)
    messages.success(
        request,
        _("Campaign %(name)s is now %(state)s.")
        % {"name": campaign.name, "state": campaign.get_state_display().lower()},
    )
    return redirect("firmware-campaign", pk=campaign.pk)
