"""Administrators see every API token (never a secret) and can revoke them."""

from django.contrib import admin, messages

from apps.accounts.policy import Action
from apps.core.admin_site import PolicyAdmin
from apps.tokens import services
from apps.tokens.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(PolicyAdmin):
    policy_action = Action.MANAGE_USERS
    read_only = True
    list_display = [
        "name",
        "user",
        "prefix",
        "scopes",
        "expires",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    exclude = ["digest", "pepper_id"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        revoked = sum(
            services.revoke(token, by=request.user, reason=f"revoked by {request.user}")
            for token in queryset.filter(revoked_at__isnull=True)
        )
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)
