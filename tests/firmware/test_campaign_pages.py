"""Campaign pages: the form's dry run, creation, the detail's actions per state and per user."""

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.firmware.models import Campaign

FORM = {
    "name": "Lyon BIOS",
    "sites": "lyon-01, lyon-02, lyon-03",
    "waves": "50%,rest",
    "canary": "on",
    "max_down_per_site": "1",
    "soak_minutes": "15",
}


def form(fleet, **extra):
    return FORM | {"bundle": str(fleet["bundle"].pk)} | extra


@pytest.mark.django_db
def test_new_campaign_form_shows_the_dry_run(client, fleet, engineer):
    client.force_login(engineer)
    assert client.get(reverse("firmware-campaign-new")).status_code == 200
    response = client.post(reverse("firmware-campaign-new"), form(fleet, intent="preview"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="campaign-plan"' in page
    assert "7 eligible" in page
    assert "Canary" in page and "Wave 1" in page
    assert "0.4 kW" in page  # a single 400 W node down at lyon-03
    assert "unknown" in page  # lyon-01's node without live draw
    assert "up_to_date" in page and "Prediction impossible" in page  # excluded, with why
    assert 'data-testid="campaign-create"' in page
    assert Campaign.objects.count() == 0


@pytest.mark.django_db
def test_bad_form_is_400_with_the_reason(client, fleet, engineer):
    client.force_login(engineer)
    response = client.post(
        reverse("firmware-campaign-new"), form(fleet, intent="preview", waves="rest,5%")
    )
    assert response.status_code == 400
    assert "rest&quot; can only be the last wave" in response.content.decode()
    bad_number = client.post(
        reverse("firmware-campaign-new"), form(fleet, intent="preview", retries="two")
    )
    assert bad_number.status_code == 400 and "is not a number" in bad_number.content.decode()


@pytest.mark.django_db
def test_create_then_only_another_engineer_sees_and_may_use_approve(
    client, fleet, engineer, engineer2
):
    client.force_login(engineer)
    response = client.post(reverse("firmware-campaign-new"), form(fleet, intent="create"))
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "firmware-campaign", args=[campaign.pk]
    )
    page = client.get(response.url).content.decode()
    assert 'data-testid="four-eyes"' in page
    assert 'data-testid="action-approve"' not in page
    assert 'data-testid="action-abort"' in page
    # the creator posting approve anyway is refused
    approve = reverse("firmware-campaign-approve", args=[campaign.pk])
    assert client.post(approve).status_code == 403
    campaign.refresh_from_db()
    assert campaign.state == "planned"

    client.force_login(engineer2)
    page = client.get(reverse("firmware-campaign", args=[campaign.pk])).content.decode()
    assert 'data-testid="action-approve"' in page
    assert client.post(approve).status_code == 302
    campaign.refresh_from_db()
    assert campaign.state == "approved" and campaign.approved_by == engineer2
    page = client.get(reverse("firmware-campaign", args=[campaign.pk])).content.decode()
    assert 'data-testid="action-start"' in page and 'data-testid="action-pause"' not in page


@pytest.mark.django_db
def test_buttons_follow_the_state_and_out_of_turn_posts_change_nothing(
    client, fleet, engineer, engineer2
):
    client.force_login(engineer)
    client.post(reverse("firmware-campaign-new"), form(fleet, intent="create"))
    campaign = Campaign.objects.get()
    pause = reverse("firmware-campaign-pause", args=[campaign.pk])
    response = client.post(pause, follow=True)
    assert "Cannot pause a campaign that is planned" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.state == "planned"
    client.force_login(engineer2)
    client.post(reverse("firmware-campaign-approve", args=[campaign.pk]))
    client.post(reverse("firmware-campaign-start", args=[campaign.pk]))
    page = client.get(reverse("firmware-campaign", args=[campaign.pk])).content.decode()
    assert 'data-testid="action-pause"' in page and 'data-testid="action-resume"' not in page
    client.post(pause)
    page = client.get(reverse("firmware-campaign", args=[campaign.pk])).content.decode()
    assert 'data-testid="action-resume"' in page and 'data-testid="action-pause"' not in page
    client.post(reverse("firmware-campaign-abort", args=[campaign.pk]))
    campaign.refresh_from_db()
    assert campaign.state == "aborted"
    assert list(
        AuditEvent.objects.filter(target_type="campaign", result="ok")
        .order_by("id")
        .values_list("action", "actor__username")
    ) == [
        ("firmware.campaign_create", "engineer"),
        ("firmware.campaign_approve", "engineer2"),
        ("firmware.campaign_start", "engineer2"),
        ("firmware.campaign_pause", "engineer2"),
        ("firmware.campaign_abort", "engineer2"),
    ]


@pytest.mark.django_db
def test_list_and_navigation_per_role(client, fleet, engineer, planner, partner):
    client.force_login(engineer)
    client.post(reverse("firmware-campaign-new"), form(fleet, intent="create"))
    page = client.get(reverse("firmware-campaigns")).content.decode()
    assert "Lyon BIOS" in page and "Planned" in page
    assert f'href="{reverse("firmware-campaigns")}"' in page  # the navigation entry
    client.force_login(planner)
    assert client.get(reverse("firmware-campaigns")).status_code == 403
    home = client.get(reverse("fleet")).content.decode()
    assert reverse("firmware-campaigns") not in home
    client.force_login(partner)
    assert client.get(reverse("firmware-campaigns")).status_code == 404
    campaign = Campaign.objects.get()
    assert client.get(reverse("firmware-campaign", args=[campaign.pk])).status_code == 404
