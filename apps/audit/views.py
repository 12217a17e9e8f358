from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.models import AuditEvent


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.VIEW_AUDIT)
    events = AuditEvent.objects.select_related("site")
    action = request.GET.get("action", "").strip()
    if action:
        events = events.filter(action__startswith=action)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "audit/audit_log.html", {"page": page, "action": action})
