"""Power controls and hardware fragments of the node and site pages (engineers only)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from apps.accounts import access
from apps.accounts.policy import Action
from apps.hardware import certificates, reach, rotation, selectors, services
from apps.hardware.drivers.base import BOOT_DEVICES, BmcError
from apps.hardware.models import PowerAction
from apps.hardware.protocols import node_protocol

WHAT_HAPPENS = {
    "on": gettext_lazy(
        "The node powers on and boots; its heat returns to the water loop within minutes."
    ),
    "off": gettext_lazy(
        "Power is cut at once, like pulling the plug: unsaved work on the node is lost."
    ),
    "soft": gettext_lazy(
        "The operating system is asked to shut down cleanly; the node then powers off."
    ),
    "reset": gettext_lazy("The node restarts at once without shutting down: running work is lost."),
    "cycle": gettext_lazy("Power is cut, then restored after a few seconds: running work is lost."),
}


def _kind_or_400(request: HttpRequest, source) -> str | None:
    kind = source.get("action", "")
    return kind if kind in WHAT_HAPPENS else None


def _confirm(request: HttpRequest, *, site, kind: str, nodes: list, bulk: bool) -> HttpResponse:
    """The confirmation fragment: what will happen, to which nodes, and the heat it costs."""
    context = {
        "site": site,
        "kind": kind,
        "label": PowerAction.Kind(kind).label,
        "what": WHAT_HAPPENS[kind],
        "destructive": kind in PowerAction.DESTRUCTIVE,
        "heat_lost_kw": selectors.site_heat_at_risk_kw(nodes),
        "nodes": nodes,
        "bulk": bulk,
    }
    return render(request, "hardware/_power_confirm.html", context)


@login_required
@require_GET
def node_power_confirm(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.POWER_CONTROL)
    kind = _kind_or_400(request, request.GET)
    if kind is None:
        return HttpResponseBadRequest(_("Unknown power action."))
    return _confirm(request, site=node.site, kind=kind, nodes=[node], bulk=False)


@login_required
@require_POST
def node_power(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.POWER_CONTROL)
    kind = _kind_or_400(request, request.POST)
    if kind is None:
        return HttpResponseBadRequest(_("Unknown power action."))
    try:
        action = services.power_request(actor=request.user, node=node, kind=kind)
    except services.PowerConflict as conflict:
        messages.error(request, str(conflict))
    else:
        messages.info(
            request,
            _("%(action)s of %(node)s queued.")
            % {"action": action.get_kind_display(), "node": node.name},
        )
    return redirect("node-detail", node_id=node.pk)


@login_required
@require_POST
def node_boot_device(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.POWER_CONTROL)
    device = request.POST.get("device", "")
    if device not in BOOT_DEVICES:
        messages.error(request, _("Unknown boot device %(device)r.") % {"device": device})
        return redirect("node-detail", node_id=node.pk)
    params = {
        "device": device,
        "persistent": request.POST.get("persistent") == "on",
        # an unticked checkbox is absent from the form: absent means legacy boot
        "uefi": request.POST.get("uefi") == "on",
    }
    try:
        services.power_request(actor=request.user, node=node, kind="bootdev", params=params)
    except (services.PowerConflict, BmcError) as error:
        messages.error(request, str(error))
    else:
        messages.info(
            request,
            _("Boot device of %(node)s: %(device)s requested.")
            % {"node": node.name, "device": device},
        )
    return redirect("node-detail", node_id=node.pk)


@login_required
@require_POST
def node_details_refresh(request: HttpRequest, node_id: int) -> HttpResponse:
    from apps.hardware.tasks import bmc_details_refresh_task

    node = access.node_for_user(request.user, node_id, Action.VIEW_HARDWARE)
    refusal = reach.gateway_refusal(node, "details")
    if refusal:
        messages.error(request, refusal)
        return redirect("node-detail", node_id=node.pk)
    transaction.on_commit(lambda: bmc_details_refresh_task.delay(node.pk))
    messages.info(
        request, _("Reading inventory, firmware, boot device, BIOS settings and log from the BMC…")
    )
    return redirect("node-detail", node_id=node.pk)


def _selected_nodes(request: HttpRequest, site, source):
    ids = [int(v) for v in source.getlist("nodes") if v.isdigit()]
    nodes = site.nodes.order_by("name")
    return list(nodes.filter(pk__in=ids)) if ids else list(nodes)


@login_required
@require_GET
def site_power_confirm(request: HttpRequest, site_id: int) -> HttpResponse:
    site = access.site_for_user(request.user, site_id, Action.POWER_CONTROL)
    kind = _kind_or_400(request, request.GET)
    if kind is None:
        return HttpResponseBadRequest(_("Unknown power action."))
    nodes = _selected_nodes(request, site, request.GET)
    return _confirm(request, site=site, kind=kind, nodes=nodes, bulk=True)


@login_required
@require_POST
def site_power(request: HttpRequest, site_id: int) -> HttpResponse:
    site = access.site_for_user(request.user, site_id, Action.POWER_CONTROL)
    kind = _kind_or_400(request, request.POST)
    if kind is None:
        return HttpResponseBadRequest(_("Unknown power action."))
    try:
        concurrency = max(1, min(16, int(request.POST.get("concurrency", 2))))
    except ValueError:
        concurrency = 2
    nodes = _selected_nodes(request, site, request.POST)
    batch, skipped = services.bulk_power_request(
        actor=request.user, site=site, kind=kind, nodes=nodes, concurrency=concurrency
    )
    for reason in skipped:
        messages.warning(request, reason)
    messages.info(
        request,
        _("%(action)s of %(count)d node(s) queued.")
        % {"action": PowerAction.Kind(kind).label, "count": batch.actions.count()},
    )
    return redirect(f"{reverse('site-detail', args=[site.pk])}?batch={batch.pk}#power")


@login_required
@require_GET
def power_batch_progress(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = access.power_batch_for_user(request.user, batch_id)
    actions = list(batch.actions.select_related("node").order_by("id"))
    done = sum(1 for a in actions if not a.is_active)
    return render(
        request,
        "hardware/_batch_progress.html",
        {
            "batch": batch,
            "actions": actions,
            "done": done,
            "total": len(actions),
            "percent": round(100 * done / len(actions)) if actions else 100,
        },
    )


@login_required
@require_GET
def node_actions_fragment(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.VIEW_HARDWARE)
    return render(
        request,
        "hardware/_action_history.html",
        {"actions": selectors.node_actions(node), "site": node.site, "show_node": False},
    )


@login_required
@require_POST
def node_certificate_accept(request: HttpRequest, node_id: int) -> HttpResponse:
    """Accepts the BMC certificate shown on the node page (its fingerprint travels with the
    form, so a certificate that changed since the page was drawn is not accepted)."""
    node = access.node_for_user(request.user, node_id, Action.MANAGE_INVENTORY)
    try:
        certificates.certificate_accept(
            actor=request.user, node=node, expected=request.POST.get("fingerprint", "")
        )
    except (certificates.CertificateMismatch, BmcError) as error:
        messages.error(request, str(error))
    else:
        messages.info(
            request, _("The BMC certificate of %(node)s is accepted.") % {"node": node.name}
        )
    return redirect("node-detail", node_id=node.pk)


def _bmc_password_card(request: HttpRequest, node) -> dict:
    return {
        "node": node,
        "site": node.site,
        "can_configure_bmc": access.can(request.user, Action.CONFIGURE_BMC),
        # a site gateway's node: why there is no rotation (rather than a button that refuses)
        "rotation_refused": reach.gateway_refusal(node, "rotation"),
    }


@login_required
@require_GET
def node_bmc_password_fragment(request: HttpRequest, node_id: int) -> HttpResponse:
    """The BMC card's password part, polled while a rotation is in progress."""
    node = access.node_for_user(request.user, node_id, Action.VIEW_HARDWARE)
    return render(request, "hardware/_bmc_password.html", _bmc_password_card(request, node))


@login_required
@require_GET
def node_bmc_password_confirm(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.CONFIGURE_BMC)
    context = {
        "node": node,
        "site": node.site,
        "protocol": node_protocol(node),
        "busy": rotation.bmc_rotation_busy(node),
    }
    return render(request, "hardware/_bmc_password_confirm.html", context)


@login_required
@require_POST
def node_bmc_password_rotate(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.CONFIGURE_BMC)
    try:
        rotation.bmc_password_rotate_request(actor=request.user, node=node, source="page")
    except (rotation.RotationBusy, rotation.RotationFailed) as error:
        messages.error(request, str(error))
    else:
        messages.info(
            request, _("Rotating the BMC password of %(node)s: queued.") % {"node": node.name}
        )
    return redirect("node-detail", node_id=node.pk)
