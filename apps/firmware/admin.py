from django.contrib import admin

from apps.core.admin_site import PolicyAdmin
from apps.firmware.models import MaintenanceWindow


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(PolicyAdmin):
    """Weekly windows in the site's local time during which campaigns may take nodes down."""

    list_display = ["site", "weekday", "start", "end"]
    list_filter = ["weekday"]
    search_fields = ["site__code", "site__name"]
    list_select_related = ["site"]
