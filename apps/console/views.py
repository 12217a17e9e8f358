"""The console page of a node, and its recorded logs (engineers only, through `access`)."""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from apps.accounts import access
from apps.accounts.policy import Action
from apps.console import selectors
from apps.console.consumers import NO_SOL
from apps.hardware.protocols import has_serial_console

POWER_BUTTONS = [
    ("on", gettext_lazy("Power on"), "success"),
    ("reset", gettext_lazy("Reset"), "danger"),
    ("cycle", gettext_lazy("Cycle"), "danger"),
    ("soft", gettext_lazy("Shut down"), "warning"),
    ("off", gettext_lazy("Power off"), "danger"),
]


@login_required
@require_GET
def node_console(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.OPEN_CONSOLE)
    context = {
        "node": node,
        "site": node.site,
        "can_power": access.can(request.user, Action.POWER_CONTROL),
        "power_buttons": POWER_BUTTONS,
        "no_console": None if has_serial_console(node) else _(NO_SOL),
    }
    return render(request, "console/node_console.html", context)


@login_required
@require_GET
def node_console_logs(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.OPEN_CONSOLE)
    context = {
        "node": node,
        "site": node.site,
        "logs": selectors.console_logs(node_id=node.pk),
        "sessions": selectors.console_sessions(node_id=node.pk),
    }
    return render(request, "console/node_logs.html", context)


@login_required
@require_GET
def node_console_log(request: HttpRequest, node_id: int, name: str) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.OPEN_CONSOLE)
    try:
        path = selectors.console_log_path(node_id=node.pk, name=name)
    except LookupError:
        raise Http404("No such console log.") from None
    text, truncated = selectors.console_log_text(path=path)
    context = {"node": node, "site": node.site, "name": name, "text": text, "truncated": truncated}
    return render(request, "console/log_detail.html", context)


@login_required
@require_GET
def node_console_log_download(request: HttpRequest, node_id: int, name: str) -> FileResponse:
    node = access.node_for_user(request.user, node_id, Action.OPEN_CONSOLE)
    try:
        path = selectors.console_log_path(node_id=node.pk, name=name)
    except LookupError:
        raise Http404("No such console log.") from None
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"{node.name}-console-{name}",
        content_type="text/plain; charset=utf-8",
    )
