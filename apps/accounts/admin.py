from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from apps.accounts.models import User
from apps.accounts.policy import Action
from apps.core.admin_site import PolicyAdmin


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
