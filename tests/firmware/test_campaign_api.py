"""Campaigns in the API: created as plans, four eyes, validated transitions, roles, audit."""

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.firmware.models import Campaign
from tests.firmware.campaign_kit import spec

LIST = "/api/v1/firmware/campaigns/"


def create(client, user, body):
    client.force_login(user)
    return client.post(LIST, body, content_type="application/json")


def act(client, user, campaign_id, action, **body):
    client.force_login(user)
    return client.post(
        reverse(f"api:firmware-campaign-{action}", args=[campaign_id]),
        body,
        content_type="application/json",
    )


@pytest.mark.django_db
def test_create_from_json_is_201_planned_with_the_plan(client, fleet, engineer):
    response = create(client, engineer, spec(fleet["bundle"]))
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["state"] == "planned" and data["created_by"] == "engineer"
    assert data["plan"]["eligible"] == 7
    assert data["waves"][0]["kind"] == "canary"
    assert sum(w["node_count"] for w in data["waves"]) == 7
    assert {n["node"] for n in data["nodes"]} == {
        f"edge-{s}{i}" for s in (1, 2, 3) for i in (1, 2, 3)
    } - {"edge-21", "edge-22"}
    assert all(n["step"] == "queued" and n["state"] == "pending" for n in data["nodes"])
    worst = {s["site"]: s["loss_kw"] for s in data["plan"]["worst_loss_per_site"]}
    assert worst["lyon-01"] is None  # unknown draw stays unknown
    assert worst["lyon-03"] == 0.4


@pytest.mark.django_db
def test_create_from_a_yaml_file_upload(client, fleet, engineer):
    client.force_login(engineer)
    upload = SimpleUploadedFile("campaign.yaml", yaml.safe_dump(spec(fleet["bundle"])).encode())
    response = client.post(LIST, {"file": upload})
    assert response.status_code == 201, response.content
    assert Campaign.objects.get().name == "BIOS 1.5.0 Lyon"


@pytest.mark.django_db
def test_invalid_body_is_400_with_the_reason_and_nothing_stored(client, fleet, engineer):
    body = spec(fleet["bundle"]) | {"strategy": {"waves": ["0%"]}}
    response = create(client, engineer, body)
    assert response.status_code == 400
    assert "is not a percentage" in response.json()["detail"]
    assert Campaign.objects.count() == 0
    assert AuditEvent.objects.get(action="firmware.campaign_create").result == "refused"


@pytest.mark.django_db
def test_creator_cannot_approve_another_engineer_can(client, fleet, engineer, engineer2):
    campaign_id = create(client, engineer, spec(fleet["bundle"])).json()["id"]
    refused = act(client, engineer, campaign_id, "approve")
    assert refused.status_code == 403
    assert "Four eyes" in refused.json()["detail"]
    assert Campaign.objects.get().state == "planned"
    event = AuditEvent.objects.get(action="firmware.campaign_approve")
    assert event.result == "refused" and event.actor == engineer

    approved = act(client, engineer2, campaign_id, "approve")
    assert approved.status_code == 200
    campaign = Campaign.objects.get()
    assert campaign.state == "approved" and campaign.approved_by == engineer2
    assert AuditEvent.objects.filter(
        action="firmware.campaign_approve", result="ok", actor=engineer2
    ).exists()


@pytest.mark.django_db
def test_transitions_are_validated_and_recorded(client, fleet, engineer, engineer2):
    campaign_id = create(client, engineer, spec(fleet["bundle"])).json()["id"]
    too_early = act(client, engineer, campaign_id, "start")
    assert too_early.status_code == 409
    assert "Cannot start a campaign that is planned" in too_early.json()["detail"]
    assert act(client, engineer, campaign_id, "rollback").status_code == 409

    assert act(client, engineer2, campaign_id, "approve").status_code == 200
    started = act(client, engineer, campaign_id, "start")
    assert started.status_code == 200 and started.json()["state"] == "running"
    assert act(client, engineer, campaign_id, "resume").status_code == 409
    assert act(client, engineer2, campaign_id, "pause").json()["state"] == "paused"
    assert act(client, engineer, campaign_id, "resume", note="seen").json()["state"] == "running"
    assert act(client, engineer, campaign_id, "abort").json()["state"] == "aborted"
    assert act(client, engineer, campaign_id, "pause").status_code == 409
    assert act(client, engineer, campaign_id, "rollback").json()["state"] == "rolling_back"

    detail = client.get(reverse("api:firmware-campaign-detail", args=[campaign_id])).json()
    steps = [(h["action"], h["by"], h["to"]) for h in detail["history"]]
    assert steps == [
        ("create", "engineer", "planned"),
        ("approve", "engineer2", "approved"),
        ("start", "engineer", "running"),
        ("pause", "engineer2", "paused"),
        ("resume", "engineer", "running"),
        ("abort", "engineer", "aborted"),
        ("rollback", "engineer", "rolling_back"),
    ]
    assert detail["history"][4]["note"] == "seen"
    assert detail["started_at"] and detail["finished_at"]
    actions = set(
        AuditEvent.objects.filter(target_type="campaign", result="ok").values_list(
            "action", flat=True
        )
    )
    assert actions == {
        f"firmware.campaign_{a}"
        for a in ("create", "approve", "start", "pause", "resume", "abort", "rollback")
    }
    refused = AuditEvent.objects.filter(target_type="campaign", result="refused")
    assert refused.count() == 4  # start, rollback, resume and pause out of turn


@pytest.mark.django_db
def test_list_is_paginated_and_roles_are_kept_out(client, fleet, engineer, planner, partner):
    create(client, engineer, spec(fleet["bundle"]))
    listed = client.get(LIST).json()
    assert listed["count"] == 1 and listed["results"][0]["state"] == "planned"
    campaign_id = listed["results"][0]["id"]
    client.force_login(planner)
    assert client.get(LIST).status_code == 403
    assert act(client, planner, campaign_id, "approve").status_code == 403
    client.force_login(partner)
    assert client.get(LIST).status_code == 404
    assert (
        client.get(reverse("api:firmware-campaign-detail", args=[campaign_id])).status_code == 404
    )
    assert act(client, partner, campaign_id, "abort").status_code == 404
    assert create(client, planner, spec(fleet["bundle"])).status_code == 403
    assert Campaign.objects.get().state == "planned"
