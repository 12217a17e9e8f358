"""The campaign UI's loop without a browser: the compliance link prefills the new-campaign form,
whose dry run comes over htmx (refusals included) and is cross-checked against the compliance
filter; creation over htmx redirects; the campaign page says four eyes, and its live fragment
carries the progress bars; the lifecycle transitions reach the campaign's websocket group."""

import html
import io
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.firmware import campaign_services
from apps.firmware.campaign_services import campaign_create, campaign_transition
from apps.firmware.campaigns import Campaign, CampaignNode
from apps.firmware.desired import desired_bundle_set
from tests.firmware import compliance_kit
from tests.firmware.campaign_kit import SKU, spec

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "campaign-dry-run"}
NEW = "firmware-campaign-new"


def compliance_link(client, **params):
    """The href of the compliance page's "plan a campaign for these nodes" button."""
    page = client.get(reverse("firmware-compliance"), params).content.decode()
    start = page.index('data-testid="plan-campaign"')
    href = page[page.rindex('href="', 0, start) + 6 :]
    return html.unescape(href[: href.index('"')])


@pytest.mark.django_db
def test_the_compliance_link_prefills_the_form_and_asks_for_its_dry_run(client, fleet, engineer):
    desired_bundle_set(actor=engineer, bundle_id=fleet["bundle"].pk)
    client.force_login(engineer)
    link = compliance_link(client, sku=SKU, status="behind", site="lyon-03")
    assert parse_qs(urlsplit(link).query)["bundle"] == [str(fleet["bundle"].pk)]

    page = client.get(link).content.decode()
    assert f'<option value="{fleet["bundle"].pk}" selected>' in page
    assert 'name="sites" value="lyon-03"' in page
    assert "load" in page[page.index('hx-trigger="') :].split('"')[1]  # the dry run at once
    for hidden in ('name="origin_sku" value="HS-EDGE-1"', 'name="origin_status" value="behind"'):
        assert hidden in page
    assert 'data-testid="campaign-create"' not in page  # only once a dry run is shown


@pytest.mark.django_db
def test_a_link_with_only_the_sku_chooses_its_desired_bundle(client, fleet, engineer):
    client.force_login(engineer)
    newer = fleet["bundle"]
    older = compliance_kit.make_bundle("1.4.9", {"BMC": "2.49", "BIOS": "1.4.9"})
    desired_bundle_set(actor=engineer, bundle_id=newer.pk)
    page = client.get(reverse(NEW), {"sku": SKU.lower()}).content.decode()
    assert f'<option value="{newer.pk}" selected>' in page
    assert f'<option value="{older.pk}" selected>' not in page
    # neither bundle nor SKU: nothing is prefilled and nothing runs on load
    plain = client.get(reverse(NEW)).content.decode()
    assert " selected>" not in plain and ", load" not in plain


@pytest.mark.django_db
def test_the_dry_run_over_htmx_is_a_fragment_with_the_create_button_and_the_origin_check(
    client, fleet, engineer
):
    desired_bundle_set(actor=engineer, bundle_id=fleet["bundle"].pk)
    client.force_login(engineer)
    form = {
        "bundle": str(fleet["bundle"].pk),
        "sites": "lyon-01, lyon-02, lyon-03",
        "waves": "rest",
        "canary": "on",
        "origin_sku": SKU,
        "origin_status": "behind",
    }
    response = client.post(reverse(NEW), form, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body and 'data-testid="campaign-plan"' in body
    assert 'id="campaign-create-slot" hx-swap-oob="true"' in body
    assert "Create campaign (7 nodes, awaiting approval)" in body
    assert 'data-testid="campaign-origin"' in body
    # edge-22 is behind too, but excluded (its prediction is impossible)
    assert "8 nodes match" in body and "Every planned node is among them" in body
    assert Campaign.objects.count() == 0

    # a node "ahead" at a targeted site would be flashed too: said, with its name
    from apps.hardware.models import BmcFacts

    BmcFacts.objects.filter(node=fleet["nodes"]["edge-33"]).update(
        firmware=[{"component": "BMC", "version": "2.60"}, {"component": "BIOS", "version": "1.6"}]
    )
    body = client.post(reverse(NEW), form, **HTMX).content.decode()
    assert "1 planned node is outside that filter" in body and "edge-33" in body
    assert "1 ahead" in body


@pytest.mark.django_db
def test_a_refused_dry_run_is_a_400_fragment_with_the_reason_and_no_create_button(
    client, fleet, engineer
):
    client.force_login(engineer)
    response = client.post(
        reverse(NEW), {"bundle": str(fleet["bundle"].pk), "waves": "rest,5%"}, **HTMX
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-testid="campaign-refusal"' in body and "can only be the last wave" in body
    assert 'data-testid="campaign-create"' not in body
    assert 'id="campaign-create-slot" hx-swap-oob="true"></span>' in body  # emptied


@pytest.mark.django_db
def test_creating_over_htmx_redirects_the_browser_to_the_new_campaign(client, fleet, engineer):
    client.force_login(engineer)
    form = {"bundle": str(fleet["bundle"].pk), "sites": "lyon-03", "intent": "create"}
    response = client.post(reverse(NEW), form, **HTMX)
    campaign = Campaign.objects.get()
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("firmware-campaign", args=[campaign.pk])
    assert campaign.created_by == engineer and campaign.state == "planned"


@pytest.mark.django_db
def test_the_creator_is_told_to_wait_for_another_engineer_and_sees_no_approve(
    client, fleet, engineer, engineer2
):
    campaign, _ = campaign_create(spec=spec(fleet["bundle"]), actor=engineer)
    url = reverse("firmware-campaign", args=[campaign.pk])
    client.force_login(engineer)
    page = client.get(url).content.decode()
    assert "waiting for another engineer's approval" in page
    assert 'data-testid="action-approve"' not in page
    client.force_login(engineer2)
    page = client.get(url).content.decode()
    assert 'data-testid="four-eyes"' not in page and 'data-testid="action-approve"' in page
    assert "Waiting for approval by an engineer other than engineer" in page


@pytest.mark.django_db
def test_the_api_refuses_the_creators_approval_with_the_reason(client, fleet, engineer):
    campaign, _ = campaign_create(spec=spec(fleet["bundle"]), actor=engineer)
    client.force_login(engineer)
    response = client.post(
        reverse("api:firmware-campaign-approve", args=[campaign.pk]),
        {},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Four eyes: the engineer who created a campaign cannot approve it."
    }
    assert AuditEvent.objects.filter(
        action="firmware.campaign_approve", result="refused", actor=engineer
    ).exists()


@pytest.mark.django_db
def test_the_live_fragment_carries_campaign_and_wave_progress(client, fleet, engineer, engineer2):
    campaign, _ = campaign_create(
        spec=spec(fleet["bundle"], waves=["rest"], canary=False), actor=engineer
    )
    nodes = list(campaign.campaign_nodes.order_by("id"))
    CampaignNode.objects.filter(pk=nodes[0].pk).update(state="succeeded", step="done")
    CampaignNode.objects.filter(pk=nodes[1].pk).update(state="failed", reason="did not boot")
    CampaignNode.objects.filter(pk=nodes[2].pk).update(state="running", step="attesting")
    client.force_login(engineer2)
    url = reverse("firmware-campaign", args=[campaign.pk])
    response = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="campaign-live")
    body = response.content.decode()
    assert body.startswith("{# ") is False and body.lstrip().startswith('<div id="campaign-live"')
    assert 'data-testid="campaign-progress" data-done="2" data-total="7"' in body
    assert "2 of 7 nodes done · 1 succeeded · 1 failed · 1 running" in body
    assert body.count('data-testid="wave-progress"') == 1
    assert 'data-segment="failed"' in body and 'data-testid="action-approve"' in body
    assert "every 60s" not in body  # planned: nothing moves without an event
    Campaign.objects.filter(pk=campaign.pk).update(state="running")
    running = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="campaign-live")
    # running: re-read every minute even without events, so a dead worker shows as stalled
    assert 'hx-trigger="campaign-refresh, every 60s"' in running.content.decode()
    # the full page: every node row carries what the websocket events update
    page = client.get(url).content.decode()
    row = f'data-node-id="{nodes[2].node_id}" data-state="running" data-step="attesting"'
    assert row in page and 'id="campaign-labels"' in page and "js/campaigns.js" in page


@pytest.mark.django_db
def test_lifecycle_transitions_are_pushed_to_the_campaigns_group(
    fleet, engineer, engineer2, monkeypatch
):
    pushed = []
    monkeypatch.setattr(campaign_services, "broadcast", lambda g, e: pushed.append((g, e)))
    campaign, _ = campaign_create(spec=spec(fleet["bundle"]), actor=engineer)
    campaign_transition(campaign_id=campaign.pk, action="approve", actor=engineer2)
    campaign_transition(campaign_id=campaign.pk, action="start", actor=engineer)
    assert pushed == [
        (f"campaign.{campaign.pk}.progress", {"type": "campaign.state", "campaign_id": campaign.pk,
                                              "state": state, "reason": ""})
        for state in ("approved", "running")
    ]  # fmt: skip


@pytest.mark.django_db
def test_the_demo_seeds_a_second_engineer_so_four_eyes_can_be_walked():
    out = io.StringIO()
    call_command("seed_demo", "--sites", "1", "--nodes-per-site", "1", stdout=out)
    logins = [line.split()[:3] for line in out.getvalue().splitlines() if not line.startswith("#")]
    assert [name for name, role, _ in logins if role == "engineer"] == ["engineer", "engineer2"]
