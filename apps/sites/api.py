"""REST API for the inventory: the same access rules as the pages, via `access`."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError

from apps.accounts import access
from apps.accounts.policy import Action
from apps.sites import selectors, services
from apps.sites.serializers import (
    MeterSerializer,
    NodeSerializer,
    PartnerSiteSerializer,
    SiteSerializer,
)


class InventoryViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """List/retrieve what the user may see; create/update for MANAGE_INVENTORY through services.

    Subclasses name their write service (`save`) and the keyword it takes the existing object
    under (`saved_as`), and `fetch_one(pk)` through `access`.
    """

    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    # The action a role needs to list these objects at all (403 without it).
    list_action = Action.VIEW_SITE

    def check_permissions(self, request):
        super().check_permissions(request)
        if self.action == "create":
            access.require(request.user, Action.MANAGE_INVENTORY)
        elif self.action == "list":
            access.require(request.user, self.list_action)

    def perform_create(self, serializer):
        serializer.instance = self._save(serializer)

    def perform_update(self, serializer):
        serializer.instance = self._save(serializer, **{self.saved_as: serializer.instance})

    def _save(self, serializer, **instance):
        # Writes go through the app's service (policy re-check, audit); model validation
        # errors come back as the API's field errors.
        try:
            return self.save(
                actor=self.request.user, data=dict(serializer.validated_data), **instance
            )
        except DjangoValidationError as exc:
            raise ValidationError(serializers.as_serializer_error(exc)) from exc

    def get_object(self):
        # Fetch first: an object outside the user's reach is a 404 even for a write.
        obj = self.fetch_one(self.kwargs["pk"])
        if self.action in {"update", "partial_update"}:
            access.require(self.request.user, Action.MANAGE_INVENTORY)
        return obj


class SiteViewSet(InventoryViewSet):
    save = staticmethod(services.site_save)
    saved_as = "site"

    def get_serializer_class(self):
        if self.request.user.is_authenticated and not access.can(
            self.request.user, Action.VIEW_HARDWARE
        ):
            return PartnerSiteSerializer if self.request.user.is_partner else SiteSerializer
        return SiteSerializer

    def get_queryset(self):
        params = self.request.query_params
        sites = selectors.sites_search(
            access.sites_visible_to(self.request.user, Action.VIEW_SITE),
            q=params.get("search", ""),
            status=params.get("status", ""),
        )
        if params.get("partner", "").isdigit():
            sites = sites.filter(partner_id=int(params["partner"]))
        return sites.select_related("partner").order_by("code")

    def fetch_one(self, pk):
        return access.site_for_user(self.request.user, pk, Action.VIEW_SITE)


class NodeViewSet(InventoryViewSet):
    serializer_class = NodeSerializer
    save = staticmethod(services.node_save)
    saved_as = "node"
    list_action = Action.VIEW_HARDWARE

    def get_queryset(self):
        nodes = access.nodes_visible_to(self.request.user).select_related("site")
        params = self.request.query_params
        if params.get("site", "").isdigit():
            nodes = nodes.filter(site_id=int(params["site"]))
        if params.get("power_state"):
            nodes = nodes.filter(power_state=params["power_state"])
        if params.get("search"):
            nodes = nodes.filter(name__icontains=params["search"])
        return nodes.order_by("id")

    def fetch_one(self, pk):
        return access.node_for_user(self.request.user, pk, Action.VIEW_HARDWARE)


class MeterViewSet(InventoryViewSet):
    serializer_class = MeterSerializer
    save = staticmethod(services.meter_save)
    saved_as = "meter"
    list_action = Action.VIEW_HARDWARE

    def get_queryset(self):
        meters = access.meters_visible_to(self.request.user).select_related("site")
        if self.request.query_params.get("site", "").isdigit():
            meters = meters.filter(site_id=int(self.request.query_params["site"]))
        return meters.order_by("id")

    def fetch_one(self, pk):
        return access.meter_for_user(self.request.user, pk, Action.VIEW_HARDWARE)
