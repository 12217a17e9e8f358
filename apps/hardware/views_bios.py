"""BIOS change on the node page (engineers): edit values, see the diff, confirm.

Three steps, each a real URL (htmx swaps them into the page's modal; without htmx they are
pages of their own): the form (``GET bios/edit/``), the diff (``POST bios/diff/``: nothing is
sent yet) and the change (``POST bios/``, a plain form post: the service stages it on the BMC,
then back to the node page). A bad value re-renders the form with a reason per attribute: 400
(a BMC that refuses: 409, one that does not answer: 502; always 200 to htmx, which swaps only
2xx answers).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.accounts import access
from apps.accounts.policy import Action
from apps.hardware import bios, reach, selectors
from apps.sites.models import Node

FIELD = "attr:"


def _page(
    request: HttpRequest,
    node: Node,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HttpResponse:
    context = {"node": node, "site": node.site, "apply_note": _(bios.APPLY_NOTE)} | context
    if request.htmx:
        return render(request, template, context)
    return render(request, "hardware/bios_edit.html", context | {"step": template}, status=status)


def _form(
    request: HttpRequest,
    node: Node,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    rows = bios.bios_editable(bios.bios_rows(selectors.node_facts(node)))
    values = values or {}
    for row in rows:
        row["shown"] = values.get(row["name"], row["effective"])
        row["error"] = (errors or {}).get(row["name"], "")
    general = {k: v for k, v in (errors or {}).items() if k not in {r["name"] for r in rows}}
    return _page(
        request,
        node,
        "hardware/_bios_form.html",
        {"rows": rows, "general_errors": general},
        status=status,
    )


@login_required
@require_GET
def node_bios_edit(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.CONFIGURE_BMC)
    return _form(request, node)


def _posted_changes(node: Node, post) -> tuple[dict[str, Any], dict[str, Any]]:
    """(typed values of every posted attribute, those that differ from what is set)."""
    rows = {r["name"]: r for r in bios.bios_editable(bios.bios_rows(selectors.node_facts(node)))}
    values, changed = {}, {}
    for key, raw in post.items():
        if not key.startswith(FIELD):
            continue
        name = key[len(FIELD) :]
        row = rows.get(name)
        value = bios.bios_form_value(row, raw) if row else raw
        values[name] = value
        if row is None or value != row["effective"]:
            changed[name] = value
    return values, changed


@login_required
@require_POST
def node_bios_diff(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.CONFIGURE_BMC)
    values, changed = _posted_changes(node, request.POST)
    facts = selectors.node_facts(node)
    if values and not changed:
        nothing = {"attributes": "Nothing changes: these are the values already set or pending."}
        return _form(request, node, values=values, errors=nothing, status=400)
    try:
        wanted = bios.bios_changes_check(facts, changed)
    except bios.BiosChangeInvalid as invalid:
        return _form(request, node, values=values, errors=invalid.errors, status=400)
    return _page(
        request,
        node,
        "hardware/_bios_diff.html",
        {"diff": bios.bios_diff(facts, wanted), "changes_json": json.dumps(wanted)},
    )


@login_required
@require_POST
def node_bios_change(request: HttpRequest, node_id: int) -> HttpResponse:
    node = access.node_for_user(request.user, node_id, Action.CONFIGURE_BMC)
    try:
        changes = json.loads(request.POST.get("changes", ""))
    except ValueError:
        changes = None
    if not isinstance(changes, dict):
        return _form(request, node, errors={"attributes": "No changes were confirmed."}, status=400)
    try:
        facts = bios.bios_change_request(actor=request.user, node=node, changes=changes)
    except bios.BiosChangeInvalid as invalid:
        return _form(request, node, values=changes, errors=invalid.errors, status=400)
    except bios.BiosChangeRefused as refused:
        words = "The BMC refused the change" if refused.refused else "The BMC did not take it"
        said = refused.message if refused.cause == reach.CAUSE else f"{words}: {refused.message}"
        return _form(
            request,
            node,
            values=changes,
            errors={"attributes": said},
            status=409 if refused.refused else 502,
        )
    pending = facts.bios.get("pending") or {}
    messages.success(
        request,
        _(
            "BIOS changes staged on %(node)s (%(count)d pending): "
            "they apply at the node's next reset."
        )
        % {"node": node.name, "count": len(pending)},
    )
    return redirect("node-detail", node_id=node.pk)
