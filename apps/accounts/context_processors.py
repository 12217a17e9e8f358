"""The navigation that fits the user's role, decided by the policy table."""

from apps.accounts import access
from apps.accounts.policy import Action


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": []}
    items = [("fleet", "Sites" if user.is_partner else "Fleet", "bi-grid-3x3-gap")]
    if access.can(user, Action.COMPARE_SITES):
        items.append(("compare", "Compare", "bi-bar-chart"))
    if access.can(user, Action.MANAGE_FIRMWARE):
        items.append(("firmware-bundles", "Firmware", "bi-cpu"))
        items.append(("firmware-compliance", "Compliance", "bi-check2-square"))
        items.append(("firmware-campaigns", "Campaigns", "bi-diagram-3"))
    if access.can(user, Action.VIEW_AUDIT):
        items.append(("audit-log", "Audit log", "bi-journal-text"))
    return {
        "nav": items,
        "can_admin": access.can(user, Action.MANAGE_USERS),
        "can": {action.value: access.can(user, action) for action in Action},
    }
