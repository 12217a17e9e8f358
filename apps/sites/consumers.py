"""Live updates for the fleet overview and the site page."""

from typing import Any

from apps.accounts import access
from apps.accounts.models import Role
from apps.accounts.policy import Action
from apps.core.consumers import AuthorisedConsumer, sync_authorise


@sync_authorise
def _site_groups(user: Any, site_id: int) -> list[str]:
    site = access.site_for_user(user, site_id, Action.VIEW_SITE)
    groups = [f"site.{site.id}.heat"]
    if access.can(user, Action.VIEW_HARDWARE):
        groups.append(f"site.{site.id}.hardware")
    return groups


@sync_authorise
def _fleet_groups(user: Any) -> list[str]:
    access.require(user, Action.VIEW_SITE)
    if user.role == Role.PARTNER:
        return [f"partner.{user.organisation_id}.heat"]
    groups = ["fleet.heat"]
    if access.can(user, Action.VIEW_HARDWARE):
        groups.append("fleet.hardware")
    return groups


class SiteLiveConsumer(AuthorisedConsumer):
    """`ws/sites/<id>/`: heat for everyone who sees the site, hardware for engineers."""

    async def authorise(self, user: Any) -> list[str]:
        return await _site_groups(user, int(self.scope["url_route"]["kwargs"]["site_id"]))


class FleetLiveConsumer(AuthorisedConsumer):
    """`ws/fleet/`: live heat of every site the user sees (partners: their organisation's)."""

    async def authorise(self, user: Any) -> list[str]:
        return await _fleet_groups(user)
