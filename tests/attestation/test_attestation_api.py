"""Attestation API: latest + history, attest now (202), the node's prediction."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.attestation import services
from apps.attestation.models import Attestation
from apps.attestation.predict import predict
from apps.lab.tpm.node import LAB_PROFILE, base_configuration, lab_release
from apps.lab.tpm.seed import seed_lab_nodes

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


def _url(node, suffix=""):
    return f"/api/v1/nodes/{node.pk}/attestation/{suffix}"


def test_history_comes_newest_first_with_the_latest_and_the_badge(api, engineer, node):
    old = Attestation.objects.create(
        node=node, at=timezone.now() - timezone.timedelta(minutes=5), verdict="trusted"
    )
    new = Attestation.objects.create(
        node=node, at=timezone.now(), verdict="invalid", reason_code="nonce", reason="nonce"
    )
    api.force_authenticate(engineer)
    body = api.get(_url(node)).json()
    assert [a["id"] for a in body["history"]] == [new.pk, old.pk]
    assert body["latest"]["reason_code"] == "nonce" and body["badge"] == "not_enrolled"
    assert len(api.get(_url(node), {"limit": 1}).json()["history"]) == 1
    assert api.get(_url(node), {"limit": "x"}).status_code == 400


def test_post_queues_an_attestation_and_answers_202(
    api, engineer, node, monkeypatch, django_capture_on_commit_callbacks
):
    services.endpoint_register(
        node=node, host="127.0.0.1", port=9, cert_fingerprint="a" * 64, token=b"t" * 32
    )
    queued = []
    monkeypatch.setattr("apps.attestation.tasks.attest_node_task.delay", queued.append)
    api.force_authenticate(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(_url(node))
    assert response.status_code == 202 and queued == [node.pk]


def test_post_without_an_agent_is_a_400_with_the_reason(api, engineer, node):
    api.force_authenticate(engineer)
    response = api.post(_url(node))
    assert response.status_code == 400 and "agent endpoint" in response.json()["detail"]


@pytest.mark.parametrize(("role", "status"), [("partner", 404), ("planner", 403)])
def test_post_refused_for_roles_without_attestation(api, users, node, role, status):
    api.force_authenticate(users[role])
    assert api.post(_url(node)).status_code == status


def test_prediction_gives_the_pcrs_and_events_of_the_model(api, engineer, node):
    seed_lab_nodes([node])
    expected = predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration())
    api.force_authenticate(engineer)
    body = api.get(_url(node, "prediction/")).json()
    assert body["release"] == "1.4.0"
    assert body["pcrs"]["sha256"] == {str(p): v for p, v in expected.pcrs["sha256"].items()}
    assert [e["sha256"] for e in body["events"]] == [
        e.digests["sha256"].hex() for e in expected.events
    ]


def test_prediction_of_a_node_without_configuration_is_404_with_the_reason(api, engineer, node):
    api.force_authenticate(engineer)
    response = api.get(_url(node, "prediction/"))
    assert response.status_code == 404 and "no firmware release" in response.json()["detail"]
