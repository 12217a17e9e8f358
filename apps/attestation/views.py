"""Attestation pages: node history, mismatch explanation, firmware releases, "Attest now"."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.accounts import access
from apps.accounts.policy import Action
from apps.attestation import badges, selectors, services


@login_required
@require_GET
def node_attestation(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.VIEW_ATTESTATION)
    context = {
        "node": node,
        "site": node.site,
        "card": selectors.node_card(node),
        "history": selectors.node_history(node),
        "can_attest": access.can(request.user, Action.VIEW_ATTESTATION),
        "can_enrol": access.can(request.user, Action.MANAGE_FIRMWARE),
    }
    return render(request, "attestation/node_attestation.html", context)


@login_required
@require_POST
def node_attest(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.VIEW_ATTESTATION)
    try:
        services.attest_request(actor=request.user, node=node)
    except services.AttestationError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(
            request,
            _("Attestation of %(node)s requested: the badge updates shortly.")
            % {"node": node.name},
        )
    return redirect("node-attestation", node_id=node.pk)


@login_required
@require_POST
def node_enrol(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.MANAGE_FIRMWARE)
    try:
        services.enrol_request(actor=request.user, node=node)
    except services.AttestationError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(
            request,
            _(
                "Enrolment of %(node)s requested: its TPM identity is proven again and replaces "
                "the previous one if it changed (audited)."
            )
            % {"node": node.name},
        )
    return redirect("node-attestation", node_id=node.pk)


@login_required
@require_GET
def attestation_detail(request: HttpRequest, attestation_id: int) -> HttpResponse:
    attestation = selectors.attestation_for_user(request.user, attestation_id)
    node = attestation.node
    badge = badges.Badge(attestation.verdict)
    context = {
        "attestation": attestation,
        "node": node,
        "site": node.site,
        "badge_label": badges.LABELS[badge],
        "badge_css": badges.CSS[badge],
        "pcrs": sorted(
            ((int(p), v) for p, v in attestation.pcrs.get("sha256", {}).items()),
        ),
        "divergent_pcrs": {d.get("pcr") for d in attestation.divergences},
    }
    return render(request, "attestation/attestation_detail.html", context)


@login_required
@require_GET
def firmware_releases(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.VIEW_ATTESTATION)
    return render(request, "attestation/releases.html", {"releases": selectors.releases()})


@login_required
@require_GET
def firmware_release(request: HttpRequest, release_id: int) -> HttpResponse:
    release = selectors.release_for_user(request.user, release_id)
    context = {
        "release": release,
        "nodes": selectors.release_implied_pcrs(release),
        "template_events": selectors.release_template_pcrs(release),
        "pcr_indices": list(range(8)),
    }
    return render(request, "attestation/release_detail.html", context)
