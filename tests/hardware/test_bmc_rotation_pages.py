"""The rotate button on the node page's BMC card, its confirmation, the API, and the task they
queue (run here against a lab BMC, as a worker would)."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.hardware import rotation, tasks
from apps.hardware.drivers import ipmi
from apps.hardware.drivers.redfish import transport
from apps.sites.models import Node
from tests.hardware.redfish_nodes import dual_lab_node

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """What the page and the API hand to the queue (instead of a broker)."""
    calls: list[tuple] = []
    monkeypatch.setattr(tasks.bmc_password_rotate_task, "delay", lambda *a: calls.append(a))
    return calls


@pytest.fixture
def lab(make_dual_lab, settings):
    settings.BMC_TIMEOUT = 10.0  # bounds a broken run only
    lab = make_dual_lab(count=1)
    yield lab
    transport.close_all()
    ipmi.close_all()


def card(client, node):
    response = client.get(reverse("node-detail", args=[node.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_engineers_get_the_button_and_admins_only_the_state(client, engineer, admin_user, node):
    client.force_login(engineer)
    page = card(client, node)
    assert 'data-testid="rotate-bmc-password"' in page
    assert "Password rotated: never by Heatsite" in page
    client.force_login(admin_user)
    page = card(client, node)
    assert 'data-testid="bmc-password"' in page
    assert 'data-testid="rotate-bmc-password"' not in page


def test_the_confirmation_says_what_happens_to_which_account(client, engineer, node):
    client.force_login(engineer)
    response = client.get(reverse("node-bmc-password-confirm", args=[node.pk]))
    text = response.content.decode()
    assert response.status_code == 200
    assert node.name in text and node.site.code in text and "<code>admin</code>" in text
    assert "only then stored" in text
    assert reverse("node-bmc-password-rotate", args=[node.pk]) in text


def test_the_button_queues_the_task_which_rotates_and_the_card_shows_when_in_local_time(
    client, engineer, lab, sent, django_capture_on_commit_callbacks
):
    node = dual_lab_node(lab, 0, bmc_protocol="ipmi")
    client.force_login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("node-bmc-password-rotate", args=[node.pk]), follow=True)
    assert response.status_code == 200 and "queued" in response.content.decode()
    assert len(sent) == 1 and sent[0][:2] == (node.pk, engineer.pk)
    queued = AuditEvent.objects.get(action=rotation.ACTION, detail__step="queued")
    assert (queued.actor, queued.result, queued.detail["source"]) == (engineer, "pending", "page")

    assert tasks.bmc_password_rotate_task(*sent[0]) == "rotated"  # what the worker runs
    node.refresh_from_db()
    assert node.bmc_password != "password"
    assert lab.bmc(0).password_for("admin") == node.bmc_password
    assert AuditEvent.objects.filter(action=rotation.ACTION, actor=engineer, result="ok").exists()
    # a second delivery of the same message (a redelivered task) finds the request served
    assert tasks.bmc_password_rotate_task(*sent[0]) == "skipped"

    at = datetime.datetime(2026, 7, 1, 10, 0, tzinfo=datetime.UTC)
    Node.objects.filter(pk=node.pk).update(bmc_password_rotated_at=at)
    page = card(client, node)
    assert "2026-07-01 12:00" in page  # Europe/Paris in summer
    assert node.bmc_password not in page


def test_a_failed_rotation_is_flagged_on_the_card_with_its_reason(client, engineer, node):
    Node.objects.filter(pk=node.pk).update(
        bmc_rotation_state="failed",
        bmc_rotation_error="The BMC did not take the new password: insufficient privilege.",
        bmc_rotation_started_at=timezone.now(),
    )
    client.force_login(engineer)
    page = card(client, node)
    assert 'data-testid="bmc-password-failed"' in page
    assert "The BMC did not take the new password: insufficient privilege." in page
    assert 'data-testid="rotate-bmc-password"' in page  # it can be tried again
    api = APIClient()
    api.force_authenticate(engineer)
    body = api.get(f"/api/v1/nodes/{node.pk}/").json()
    assert (body["bmc_rotation_state"], body["bmc_password_rotated_at"]) == ("failed", None)
    assert body["bmc_rotation_error"].startswith("The BMC did not take the new password")


def test_while_a_rotation_runs_the_card_polls_and_a_second_request_is_refused(
    client, engineer, node, sent
):
    Node.objects.filter(pk=node.pk).update(
        bmc_rotation_state="pending", bmc_rotation_started_at=timezone.now()
    )
    client.force_login(engineer)
    page = card(client, node)
    assert 'data-testid="bmc-password-pending"' in page and 'hx-trigger="every 2s"' in page
    assert 'data-testid="rotate-bmc-password"' not in page
    fragment = client.get(reverse("node-bmc-password", args=[node.pk])).content.decode()
    assert 'data-state="pending"' in fragment

    response = client.post(reverse("node-bmc-password-rotate", args=[node.pk]), follow=True)
    assert "already in progress" in response.content.decode()
    api = APIClient()
    api.force_authenticate(engineer)
    answer = api.post(f"/api/v1/nodes/{node.pk}/bmc-password/rotate/")
    assert answer.status_code == 409 and "already in progress" in answer.json()["detail"]
    assert sent == []
    refused = AuditEvent.objects.filter(action=rotation.ACTION, result="refused")
    assert {e.detail["source"] for e in refused} == {"page", "api"}


def test_the_api_queues_a_rotation_for_engineers_only(
    engineer, admin_user, planner, partner, node, sent, django_capture_on_commit_callbacks
):
    api = APIClient()
    url = f"/api/v1/nodes/{node.pk}/bmc-password/rotate/"
    for user, code in ((partner, 404), (planner, 403), (admin_user, 403)):
        api.force_authenticate(user)
        assert api.post(url).status_code == code
    api.force_authenticate(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(url)
    assert answer.status_code == 202
    assert answer.json() == {"node": node.pk, "status": "queued"}
    assert [call[:2] for call in sent] == [(node.pk, engineer.pk)]
    event = AuditEvent.objects.get(action=rotation.ACTION)
    assert (event.actor, event.detail["source"]) == (engineer, "api")


def test_the_api_says_why_a_node_without_credentials_cannot_be_rotated(engineer, node, sent):
    Node.objects.filter(pk=node.pk).update(bmc_password_encrypted="")
    api = APIClient()
    api.force_authenticate(engineer)
    answer = api.post(f"/api/v1/nodes/{node.pk}/bmc-password/rotate/")
    assert answer.status_code == 400
    assert (
        answer.json()["detail"]
        == "The node has no stored BMC password: set one before rotating it."
    )
    assert sent == []


def test_a_queued_rotation_that_finds_another_running_waits_for_its_lease(node, engineer):
    started = timezone.now()
    Node.objects.filter(pk=node.pk).update(
        bmc_rotation_state="pending", bmc_rotation_started_at=started
    )
    queued = rotation.bmc_password_rotate_queued(
        node_id=node.pk, actor_id=engineer.pk, requested_at=started.isoformat()
    )
    assert queued.result is None
    assert 0 < queued.retry_in <= rotation.lease().total_seconds() + 2


def test_a_queued_rotation_whose_requester_lost_the_right_is_refused(node, engineer):
    engineer.role = "planner"
    engineer.save()
    queued = rotation.bmc_password_rotate_queued(
        node_id=node.pk, actor_id=engineer.pk, requested_at=timezone.now().isoformat()
    )
    assert queued.result is None and queued.retry_in is None
    assert AuditEvent.objects.get(action=rotation.ACTION).result == "refused"
    node.refresh_from_db()
    assert node.bmc_password == "password" and node.bmc_rotation_state == ""


def test_a_request_for_a_node_without_credentials_is_refused_and_audited(client, engineer, node):
    Node.objects.filter(pk=node.pk).update(bmc_username="")
    client.force_login(engineer)
    response = client.post(reverse("node-bmc-password-rotate", args=[node.pk]), follow=True)
    assert "no BMC user name" in response.content.decode()
    event = AuditEvent.objects.get(action=rotation.ACTION)
    assert (event.result, event.detail["source"]) == ("refused", "page")


def test_a_queue_that_cannot_take_the_task_fails_the_request_visibly(
    client, engineer, node, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.bmc_password_rotate_task, "delay", broker_down)
    client.force_login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("node-bmc-password-rotate", args=[node.pk]))
    assert response.status_code == 302
    node.refresh_from_db()
    assert node.bmc_rotation_state == "failed"
    assert "task queue is unavailable" in node.bmc_rotation_error
    assert "task queue is unavailable" in card(client, node)
    results = AuditEvent.objects.filter(action=rotation.ACTION).values_list("result", flat=True)
    assert sorted(results) == ["failed", "pending"]
    assert node.bmc_password == "password"
