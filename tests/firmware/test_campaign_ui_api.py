"""A campaign's nodes in the API: the detail stays bounded (counts, the first nodes, a link),
every node is paged at /api/v1/firmware/campaigns/{id}/nodes/ with filters; roles as the
campaign's."""

import pytest
from django.urls import reverse

from apps.firmware import campaign_api
from apps.firmware.campaign_services import campaign_create
from apps.firmware.campaigns import CampaignNode
from tests.firmware.campaign_kit import spec


@pytest.fixture
def campaign(fleet, engineer):
    made, _ = campaign_create(spec=spec(fleet["bundle"]), actor=engineer)
    first = made.campaign_nodes.order_by("wave__index", "id").first()
    CampaignNode.objects.filter(pk=first.pk).update(state="failed", reason="did not boot")
    return made


@pytest.mark.django_db
def test_the_detail_inlines_only_the_first_nodes_with_counts_and_the_link(
    client, campaign, engineer, monkeypatch
):
    monkeypatch.setattr(campaign_api, "DETAIL_NODES", 3)
    client.force_login(engineer)
    data = client.get(reverse("api:firmware-campaign-detail", args=[campaign.pk])).json()
    assert len(data["nodes"]) == 3 and data["node_total"] == 7
    assert data["node_counts"] | {} == {
        "pending": 6, "running": 0, "succeeded": 0, "failed": 1, "skipped": 0, "rolled_back": 0,
    }  # fmt: skip
    assert data["nodes_url"] == (
        "http://testserver" + reverse("api:firmware-campaign-nodes", args=[campaign.pk])
    )
    assert sum(w["node_count"] for w in data["waves"]) == 7


@pytest.mark.django_db
def test_every_node_is_paged_in_wave_order_and_filtered(client, campaign, engineer):
    client.force_login(engineer)
    url = reverse("api:firmware-campaign-nodes", args=[campaign.pk])
    first = client.get(url, {"limit": 4}).json()
    rest = client.get(url, {"limit": 4, "offset": 4}).json()
    assert first["count"] == 7 and len(first["results"]) == 4 and len(rest["results"]) == 3
    waves = [n["wave"] for n in first["results"] + rest["results"]]
    assert waves == sorted(waves) and waves[0] == 0
    names = {n["node"] for n in first["results"] + rest["results"]}
    assert len(names) == 7 and first["next"] and rest["next"] is None
    failed = client.get(url, {"state": "failed"}).json()
    assert [n["reason"] for n in failed["results"]] == ["did not boot"]
    assert client.get(url, {"wave": 0}).json()["count"] == waves.count(0)
    assert client.get(url, {"step": "queued"}).json()["count"] == 7


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query, word",
    [({"state": "exploded"}, "state"), ({"wave": "-1"}, "wave"), ({"limit": "x"}, "limit")],
)
def test_a_bad_filter_is_400_with_the_reason(client, campaign, engineer, query, word):
    client.force_login(engineer)
    response = client.get(reverse("api:firmware-campaign-nodes", args=[campaign.pk]), query)
    assert response.status_code == 400 and word in response.json()["detail"]


@pytest.mark.django_db
def test_partners_never_learn_the_nodes_of_a_campaign_and_planners_are_refused(
    client, campaign, partner, planner
):
    url = reverse("api:firmware-campaign-nodes", args=[campaign.pk])
    client.force_login(partner)
    assert client.get(url).status_code == 404
    client.force_login(planner)
    assert client.get(url).status_code == 403
    assert client.get(reverse("api:firmware-campaign-nodes", args=[99999])).status_code == 403
