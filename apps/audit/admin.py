from django.contrib import admin

from apps.accounts.policy import Action
from apps.audit.models import AuditEvent
from apps.core.admin_site import PolicyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(PolicyAdmin):
    policy_action = Action.VIEW_AUDIT
    read_only = True
    list_display = ["at", "actor_name", "auth", "action", "target_repr", "result"]
    list_filter = ["result"]
    search_fields = ["action", "actor_name", "target_repr"]
