"""The admin site, behind the same policy as everything else."""

from functools import update_wrapper

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.services import audit_record


class HeatsiteAdminSite(admin.AdminSite):
    site_header = gettext_lazy("Heatsite administration")
    site_title = "Heatsite"
    index_title = gettext_lazy("Users and reference data")

    def has_permission(self, request):
        return access.can(request.user, Action.MANAGE_USERS)

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            # A logged-in user without the role gets a 403, not the admin's login form.
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied(_("Administration is for administrators."))
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, inner)


class PolicyAdmin(admin.ModelAdmin):
    """Model permissions come from the policy table, and every change is audited."""

    policy_action: Action = Action.MANAGE_INVENTORY
    read_only = False

    def _allowed(self, request) -> bool:
        return access.can(request.user, self.policy_action)

    def has_module_permission(self, request):
        return self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request)

    def has_add_permission(self, request):
        return self._allowed(request) and not self.read_only

    def has_change_permission(self, request, obj=None):
        return self._allowed(request) and not self.read_only

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request) and not self.read_only

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.{'update' if change else 'create'}",
            target=obj,
            detail={"changed": sorted(form.changed_data), "via": "admin"},
        )

    def delete_model(self, request, obj):
        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.delete",
            target=obj,
            detail={"via": "admin"},
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)
