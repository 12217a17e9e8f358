"""`ws/campaigns/<id>/`: a campaign's live progress (states of the campaign, its waves and each
node's step), pushed by the executor (`apps.firmware.campaign_steps.campaign_group`)."""

from __future__ import annotations

from typing import Any

from apps.accounts import access
from apps.core.consumers import AuthorisedConsumer, sync_authorise
from apps.firmware.campaign_steps import campaign_group


@sync_authorise
def _campaign_groups(user: Any, campaign_id: int) -> list[str]:
    campaign = access.campaign_for_user(user, campaign_id)  # partners 404, planners 403
    return [campaign_group(campaign.pk)]


class CampaignLiveConsumer(AuthorisedConsumer):
    async def authorise(self, user: Any) -> list[str]:
        return await _campaign_groups(user, int(self.scope["url_route"]["kwargs"]["campaign_id"]))
