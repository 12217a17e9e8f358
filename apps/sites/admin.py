from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy

from apps.core.admin_site import PolicyAdmin
from apps.sites.models import HeatMeter, Node, Organisation, Site


@admin.register(Organisation)
class OrganisationAdmin(PolicyAdmin):
    list_display = ["name", "kind", "contact_name", "contact_email"]
    list_filter = ["kind"]
    search_fields = ["name"]


@admin.register(Site)
class SiteAdmin(PolicyAdmin):
    list_display = ["code", "name", "city", "partner", "status", "nominal_capacity_kw"]
    list_filter = ["status", "partner"]
    search_fields = ["code", "name", "city"]
    list_select_related = ["partner"]


class NodeForm(forms.ModelForm):
    bmc_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label=gettext_lazy("BMC password"),
        help_text=gettext_lazy("Leave empty to keep the stored password. Stored encrypted."),
    )

    class Meta:
        model = Node
        fields = [
            "site",
            "name",
            "rack_position",
            "model",
            "serial",
            "status",
            "nominal_power_w",
            "bmc_protocol",
            "bmc_host",
            "bmc_port",
            "redfish_port",
            "bmc_username",
        ]


@admin.register(Node)
class NodeAdmin(PolicyAdmin):
    form = NodeForm
    list_display = ["name", "site", "rack_position", "model", "status", "power_state", "reachable"]
    list_filter = ["status", "power_state", "bmc_protocol"]
    search_fields = ["name", "serial", "site__code"]
    list_select_related = ["site"]
    readonly_fields = [
        "power_state",
        "reachable",
        "last_seen",
        "power_w",
        "bmc_protocol_detected",
        "bmc_tls_fingerprint",
        "bmc_cert_fingerprint",
        "bmc_cert_subject",
        "bmc_cert_not_after",
    ]

    def save_model(self, request, obj, form, change):
        if form.cleaned_data.get("bmc_password"):
            obj.set_bmc_password(form.cleaned_data["bmc_password"])
        super().save_model(request, obj, form, change)


@admin.register(HeatMeter)
class HeatMeterAdmin(PolicyAdmin):
    list_display = ["serial", "site", "model", "host", "port", "unit_id", "removed_at"]
    search_fields = ["serial", "site__code"]
    list_select_related = ["site"]
