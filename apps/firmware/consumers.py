"""`ws/campaigns/<id>/`: a campaign's live progress (states of the campaign, its waves and each
node's step), pushed by the executor (`apps.firmware.campaign_steps.campaign_group`).

A node's reason travels in English (data, like the API's); the consumer adds ``reason_text``,
the same sentence in the reader's language (`campaign_text.said`), for the page to show."""

from __future__ import annotations

from typing import Any

from django.utils import translation

from apps.accounts import access
from apps.accounts.languages import scope_language
from apps.core.consumers import AuthorisedConsumer, sync_authorise
from apps.firmware.campaign_steps import campaign_group
from apps.firmware.campaign_text import said


@sync_authorise
def _campaign_groups(user: Any, campaign_id: int) -> list[str]:
    campaign = access.campaign_for_user(user, campaign_id)  # partners 404, planners 403
    return [campaign_group(campaign.pk)]


class CampaignLiveConsumer(AuthorisedConsumer):
    async def authorise(self, user: Any) -> list[str]:
        self.language = scope_language(self.scope)
        return await _campaign_groups(user, int(self.scope["url_route"]["kwargs"]["campaign_id"]))

    async def push(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if event.get("reason"):
            with translation.override(self.language):
                event = {**event, "reason_text": said(event["reason"])}
        await self.send_json(event)
