"""REST API for the inventory: the same access rules as the pages, via `access`."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError

from apps.accounts import access
from apps.accounts.policy import Action
from apps.core.rest import error, field_errors, parse_query
from apps.sites import selectors, services
from apps.sites.serializers import (
    MeterQuerySerializer,
    MeterSerializer,
    NodeQuerySerializer,
    NodeSerializer,
    PartnerSiteSerializer,
    SiteQuerySerializer,
    SiteSerializer,
)

_MAY_NOT_MANAGE = error(
    "Your role may not create or change inventory.", "Your role may not manage inventory."
)
_MAY_NOT_VIEW = error(
    "Your role never sees hardware (partners, planners).", "Your role may not view hardware."
)


def _inventory_schema(noun: str, serializer, read, query, list_403: bool):
    """The schema of one inventory viewset: who may list, read, create and change."""
    listed = {200: read} | ({403: _MAY_NOT_VIEW} if list_403 else {})
    read_one = {200: read} | ({403: _MAY_NOT_VIEW} if list_403 else {})
    write = {400: field_errors(), 403: _MAY_NOT_MANAGE}
    return extend_schema_view(
        list=extend_schema(summary=f"List {noun}s", parameters=[query], responses=listed),
        retrieve=extend_schema(summary=f"One {noun}", responses=read_one),
        create=extend_schema(summary=f"Create a {noun}", responses={201: serializer} | write),
        update=extend_schema(summary=f"Replace a {noun}", responses={200: serializer} | write),
        partial_update=extend_schema(
            summary=f"Change a {noun}", responses={200: serializer} | write
        ),
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


# Partners get the whitelisted fields of a site, every other role all of them.
_SITE_AS_SEEN = PolymorphicProxySerializer(
    component_name="SiteAsSeen",
    serializers=[SiteSerializer, PartnerSiteSerializer],
    resource_type_field_name=None,
)


@_inventory_schema("site", SiteSerializer, _SITE_AS_SEEN, SiteQuerySerializer, list_403=False)
class SiteViewSet(InventoryViewSet):
    """Sites: partners see their organisation's sites (whitelisted fields), others every site;
    engineers and admins create and change them."""

    save = staticmethod(services.site_save)
    saved_as = "site"

    def get_serializer_class(self):
        if self.request.user.is_authenticated and not access.can(
            self.request.user, Action.VIEW_HARDWARE
        ):
            return PartnerSiteSerializer if self.request.user.is_partner else SiteSerializer
        return SiteSerializer

    def get_queryset(self):
        sites = access.sites_visible_to(self.request.user, Action.VIEW_SITE)
        if self.action == "list":
            query = parse_query(SiteQuerySerializer, self.request)
            sites = selectors.sites_search(
                sites, q=query.get("search", ""), status=query.get("status", "")
            )
            if "partner" in query:
                sites = sites.filter(partner_id=query["partner"])
        return sites.select_related("partner").order_by("code")

    def fetch_one(self, pk):
        return access.site_for_user(self.request.user, pk, Action.VIEW_SITE)


@_inventory_schema("node", NodeSerializer, NodeSerializer, NodeQuerySerializer, list_403=True)
class NodeViewSet(InventoryViewSet):
    """Nodes and their BMC settings (engineers and admins); the BMC password is write-only."""

    serializer_class = NodeSerializer
    save = staticmethod(services.node_save)
    saved_as = "node"
    list_action = Action.VIEW_HARDWARE

    def get_queryset(self):
        nodes = access.nodes_visible_to(self.request.user).select_related("site")
        if self.action == "list":
            query = parse_query(NodeQuerySerializer, self.request)
            if "site" in query:
                nodes = nodes.filter(site_id=query["site"])
            if "power_state" in query:
                nodes = nodes.filter(power_state=query["power_state"])
            if "search" in query:
                nodes = nodes.filter(name__icontains=query["search"])
        return nodes.order_by("id")

    def fetch_one(self, pk):
        return access.node_for_user(self.request.user, pk, Action.VIEW_HARDWARE)


@_inventory_schema("meter", MeterSerializer, MeterSerializer, MeterQuerySerializer, list_403=True)
class MeterViewSet(InventoryViewSet):
    """Heat meters (engineers and admins)."""

    serializer_class = MeterSerializer
    save = staticmethod(services.meter_save)
    saved_as = "meter"
    list_action = Action.VIEW_HARDWARE

    def get_queryset(self):
        meters = access.meters_visible_to(self.request.user).select_related("site")
        if self.action == "list":
            query = parse_query(MeterQuerySerializer, self.request)
            if "site" in query:
                meters = meters.filter(site_id=query["site"])
        return meters.order_by("id")

    def fetch_one(self, pk):
        return access.meter_for_user(self.request.user, pk, Action.VIEW_HARDWARE)
