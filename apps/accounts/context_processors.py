"""The navigation that fits the user's role, decided by the policy table."""

from django.utils.translation import gettext as _

from apps.accounts import access
from apps.accounts.policy import Action


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": []}
    items = [("fleet", _("Sites") if user.is_partner else _("Fleet"), "bi-grid-3x3-gap")]
    if access.can(user, Action.COMPARE_SITES):
        items.append(("compare", _("Compare"), "bi-bar-chart"))
    if access.can(user, Action.MANAGE_FIRMWARE):
        items.append(("firmware-bundles", _("Firmware"), "bi-cpu"))
        items.append(("firmware-compliance", _("Compliance"), "bi-check2-square"))
        items.append(("firmware-campaigns", _("Campaigns"), "bi-diagram-3"))
    if access.can(user, Action.VIEW_AUDIT):
        items.append(("audit-log", _("Audit log"), "bi-journal-text"))
    return {
        "nav": items,
        "can_admin": access.can(user, Action.MANAGE_USERS),
        "can": {action.value: access.can(user, action) for action in Action},
    }
