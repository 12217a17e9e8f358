from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from apps.accounts.models import User
from apps.accounts.policy import Action
from apps.core.admin_site import PolicyAdmin
from apps.identity import factors, lockout, sessions


@admin.register(User)
class UserAdmin(PolicyAdmin, DjangoUserAdmin):
    policy_action = Action.MANAGE_USERS
    list_display = ["username", "email", "role", "organisation", "is_active", "last_login"]
    list_filter = ["role", "organisation", "is_active"]
    fieldsets = (
        *DjangoUserAdmin.fieldsets[:2],
        ("Role", {"fields": ("role", "organisation", "is_active")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"fields": ("username", "password1", "password2", "role", "organisation")}),
    )
    readonly_fields = ["last_login", "date_joined"]
    actions = ["end_sessions", "lift_sign_in_lock", "reset_second_factors"]

    @admin.action(description="End all sessions (also revokes API tokens, closes consoles)")
    def end_sessions(self, request, queryset):
        for user in queryset:
            sessions.end_all(user, reason="ended by an administrator", by=request.user)
        self.message_user(request, f"Ended the sessions of {queryset.count()} user(s).")

    @admin.action(description="Lift the sign-in lock")
    def lift_sign_in_lock(self, request, queryset):
        for user in queryset:
            lockout.unlock(username=user.get_username(), by=request.user)
        self.message_user(request, f"Lifted the sign-in lock of {queryset.count()} user(s).")

    @admin.action(description="Reset second factors (lost phone and recovery codes)")
    def reset_second_factors(self, request, queryset):
        removed = sum(factors.reset_factors(user, by=request.user) for user in queryset)
        self.message_user(
            request,
            f"Removed {removed} factor(s) of {queryset.count()} user(s); their sessions ended. "
            "Staff enrol a new factor at their next login.",
        )
