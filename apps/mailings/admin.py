from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from apps.accounts.policy import Action
from apps.core.admin_site import PolicyAdmin

from . import services
from .models import PartnerContact, StatementMailing


@admin.register(PartnerContact)
class PartnerContactAdmin(PolicyAdmin):
    policy_action = Action.MANAGE_USERS
    list_display = ["name", "email", "organisation", "language", "monthly_statement"]
    list_filter = ["organisation", "language", "monthly_statement"]
    search_fields = ["name", "email"]


@admin.register(StatementMailing)
class StatementMailingAdmin(PolicyAdmin):
    """Every statement e-mail: failures, bounces and unknowns are where admins look."""

    policy_action = Action.MANAGE_USERS
    list_display = ["month", "organisation", "email", "status", "attempts", "sent_at", "error"]
    list_filter = ["state", "month", "organisation"]
    search_fields = ["email"]
    actions = ["resend"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # read-only rows; the actions below are the only changes

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("state"))
    def status(self, obj: StatementMailing) -> str:
        if services.is_unknown(obj):
            return str(_("unknown: claimed but never confirmed; resend if not received"))
        return obj.get_state_display()

    @admin.action(description=_("Send again (failed, bounced or unknown)"))
    def resend(self, request, queryset):
        done = 0
        for mailing in queryset.select_related("organisation"):
            try:
                services.resend(mailing, by=request.user)
            except services.MailingError as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                done += 1
        if done:
            text = _("%(n)d e-mail(s) will be sent on the next run.") % {"n": done}
            self.message_user(request, text)
