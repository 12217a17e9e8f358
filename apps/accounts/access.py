"""The only way to reach tenant data for a user.

An object outside the user's reach is a 404 (ids do not leak); a role that lacks the action is a
403. Views, API, consumers, exports, admin and services all go through these functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from apps.accounts.models import Role
from apps.accounts.policy import Action, allows, scope_needed
from apps.sites.models import HeatMeter, Node, Site

if TYPE_CHECKING:
    from apps.accounts.models import User


def _token_allows(user: User, action: Action) -> bool:
    # A user authenticated by an API token (apps.tokens.auth) carries it: its scopes bound
    # what the role allows. Sessions, tasks and the shell carry none.
    # A GET (safe) request through a token needs only read: TokenScope checks that.
    token = getattr(user, "api_token", None)
    if token is None or getattr(user, "api_token_read_only_request", False):
        return True
    return token.has_scope(scope_needed(action))


def can(user: User, action: Action) -> bool:
    return bool(
        user
        and user.is_authenticated
        and user.is_active
        and allows(user.role, action)
        and _token_allows(user, action)
    )


def require(user: User, action: Action) -> None:
    """Raises PermissionDenied (403) unless the user's role (and token) allows `action`."""
    if not can(user, action):
        if user and user.is_authenticated and allows(user.role, action):
            raise PermissionDenied(
                f"This API token lacks the {scope_needed(action)} scope needed to "
                f"{action.value.replace('_', ' ')}."
            )
        raise PermissionDenied(f"Your role may not {action.value.replace('_', ' ')}.")


def sites_visible_to(user: User, action: Action = Action.VIEW_SITE) -> QuerySet[Site]:
    """Sites the user may act on with `action`; empty when the role lacks it."""
    if not can(user, action):
        return Site.objects.none()
    sites = Site.objects.all()
    if user.role == Role.PARTNER:
        sites = sites.filter(partner_id=user.organisation_id)
    return sites


def nodes_visible_to(user: User, action: Action = Action.VIEW_HARDWARE) -> QuerySet[Node]:
    if not can(user, action) or user.role == Role.PARTNER:
        return Node.objects.none()
    return Node.objects.all()


def meters_visible_to(user: User, action: Action = Action.VIEW_HARDWARE) -> QuerySet[HeatMeter]:
    if not can(user, action) or user.role == Role.PARTNER:
        return HeatMeter.objects.none()
    return HeatMeter.objects.all()


def _reachable_sites(user: User) -> QuerySet[Site]:
    # What a user can *see exists*, independent of the action asked for: decides 404 vs 403.
    return sites_visible_to(user, Action.VIEW_SITE)


def site_for_user(user: User, site_id: int | str, action: Action = Action.VIEW_SITE) -> Site:
    """The site, or 404 if the user cannot reach it, or 403 if the role lacks `action`."""
    try:
        site = _reachable_sites(user).get(pk=site_id)
    except (Site.DoesNotExist, ValueError, TypeError):
        raise Http404("No such site.") from None
    require(user, action)
    return site


def node_for_user(user: User, node_id: int | str, action: Action = Action.VIEW_HARDWARE) -> Node:
    """The node, or 404 (unknown, or hardware the user may never see), or 403."""
    if user.role == Role.PARTNER or not can(user, Action.VIEW_SITE):
        raise Http404("No such node.")
    try:
        node = Node.objects.select_related("site", "site__partner").get(pk=node_id)
    except (Node.DoesNotExist, ValueError, TypeError):
        raise Http404("No such node.") from None
    require(user, action)
    return node


def meter_for_user(
    user: User, meter_id: int | str, action: Action = Action.VIEW_HARDWARE
) -> HeatMeter:
    if user.role == Role.PARTNER or not can(user, Action.VIEW_SITE):
        raise Http404("No such meter.")
    try:
        meter = HeatMeter.objects.select_related("site").get(pk=meter_id)
    except (HeatMeter.DoesNotExist, ValueError, TypeError):
        raise Http404("No such meter.") from None
    require(user, action)
    return meter


def power_action_for_user(user: User, action_id: int | str, action: Action = Action.VIEW_HARDWARE):
    """A power action, reachable exactly when its node is."""
    from apps.hardware.models import PowerAction

    try:
        node_id = PowerAction.objects.values_list("node_id", flat=True).get(pk=action_id)
    except (PowerAction.DoesNotExist, ValueError, TypeError):
        raise Http404("No such power action.") from None
    node_for_user(user, node_id, action)
    return PowerAction.objects.select_related("node", "node__site", "requested_by").get(
        pk=action_id
    )


def power_actions_visible_to(user: User, action: Action = Action.VIEW_HARDWARE):
    """Power actions the user may list: those of the nodes the user may see."""
    from apps.hardware.models import PowerAction

    if not can(user, action) or user.role == Role.PARTNER:
        return PowerAction.objects.none()
    return PowerAction.objects.all()


def power_batch_for_user(user: User, batch_id: int | str, action: Action = Action.VIEW_HARDWARE):
    from apps.hardware.models import PowerBatch

    try:
        site_id = PowerBatch.objects.values_list("site_id", flat=True).get(pk=batch_id)
    except (PowerBatch.DoesNotExist, ValueError, TypeError):
        raise Http404("No such power batch.") from None
    site_for_user(user, site_id, action)
    return PowerBatch.objects.select_related("site").get(pk=batch_id)


def firmware_update_for_user(
    user: User, update_id: int | str, action: Action = Action.VIEW_HARDWARE
):
    """A firmware update, reachable exactly when its node is."""
    from apps.firmware.models import FirmwareUpdate

    try:
        node_id = FirmwareUpdate.objects.values_list("node_id", flat=True).get(pk=update_id)
    except (FirmwareUpdate.DoesNotExist, ValueError, TypeError):
        raise Http404("No such firmware update.") from None
    node_for_user(user, node_id, action)
    return FirmwareUpdate.objects.select_related(
        "node", "node__site", "image", "requested_by", "power_action"
    ).get(pk=update_id)


def firmware_updates_visible_to(user: User, action: Action = Action.VIEW_HARDWARE):
    """Firmware updates the user may list: those of the nodes the user may see."""
    from apps.firmware.models import FirmwareUpdate

    if not can(user, action) or user.role == Role.PARTNER:
        return FirmwareUpdate.objects.none()
    return FirmwareUpdate.objects.all()


def campaigns_for_user(user: User, action: Action = Action.MANAGE_FIRMWARE):
    """Firmware campaigns: partners never learn they exist (404), roles without "manage
    firmware" get 403, the others see every campaign (a campaign spans sites)."""
    from apps.firmware.models import Campaign

    if getattr(user, "role", None) == Role.PARTNER:
        raise Http404("No such page.")
    require(user, action)
    return Campaign.objects.all()


def campaign_for_user(user: User, campaign_id: int | str, action: Action = Action.MANAGE_FIRMWARE):
    """One firmware campaign, as `campaigns_for_user` decides."""
    from apps.firmware.models import Campaign

    try:
        return (
            campaigns_for_user(user, action)
            .select_related("bundle__profile", "created_by", "approved_by")
            .get(pk=campaign_id)
        )
    except (Campaign.DoesNotExist, ValueError, TypeError):
        raise Http404("No such campaign.") from None


def gateways_for_user(user: User, action: Action = Action.VIEW_HARDWARE):
    """Site gateways: partners never learn they exist (404), roles without `action` get 403,
    the others see every gateway (hardware infrastructure, not tenant data)."""
    from apps.gateways.models import Gateway

    if getattr(user, "role", None) == Role.PARTNER:
        raise Http404("No such page.")
    require(user, action)
    return Gateway.objects.all()


def gateway_for_user(user: User, gateway_id: int | str, action: Action = Action.VIEW_HARDWARE):
    """One site gateway, as `gateways_for_user` decides."""
    from apps.gateways.models import Gateway

    try:
        return gateways_for_user(user, action).get(pk=gateway_id)
    except (Gateway.DoesNotExist, ValueError, TypeError):
        raise Http404("No such gateway.") from None


def compliance_nodes_for_user(user: User, action: Action = Action.MANAGE_FIRMWARE):
    """Nodes in the firmware compliance view (page, CSV, API): like campaigns, partners never
    learn it exists (404), roles without "manage firmware" get 403, the others see every node."""
    if getattr(user, "role", None) == Role.PARTNER:
        raise Http404("No such page.")
    require(user, action)
    return Node.objects.all()


def contacts_for_user(user: User, action: Action = Action.MANAGE_CONTACTS):
    """Partner contacts for the monthly statement: a partner's users manage their own
    organisation's; other roles get 403 here (admins use the admin site)."""
    from apps.mailings.models import PartnerContact

    require(user, action)
    return PartnerContact.objects.filter(organisation_id=user.organisation_id)


def contact_for_user(user: User, contact_id: int | str, action: Action = Action.MANAGE_CONTACTS):
    """One contact of the user's organisation, or 404."""
    from apps.mailings.models import PartnerContact

    try:
        return contacts_for_user(user, action).get(pk=contact_id)
    except (PartnerContact.DoesNotExist, ValueError, TypeError):
        raise Http404("No such contact.") from None
