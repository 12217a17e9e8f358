"""The image a BMC fetches for a SimpleUpdate: signed, expiring, one fetch; no login needed,
no valid token no bytes. The end-to-end test has the lab BMC pull it over real HTTP."""

import time

import pytest
import requests
from django.core import signing
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.firmware import services
from apps.firmware.image_urls import SALT, image_url_build
from apps.firmware.models import FirmwareUpdate
from apps.hardware import tasks as hardware_tasks
from apps.lab.redfish.updates import build_image
from tests.factories import NodeFactory
from tests.firmware.conftest import UPDATE_SECONDS, advance, request, run_power, store

State = FirmwareUpdate.State


@pytest.fixture
def simple_update(site, engineer, settings):
    settings.FIRMWARE_IMAGE_BASE_URL = "http://bmc-facing.invalid:8000"
    node = NodeFactory(site=site, bmc_protocol="redfish")
    return request(engineer, node, store(engineer, "BIOS", "3.0.7"), method="simple")


def _path(url: str) -> str:
    base = "http://bmc-facing.invalid:8000"
    assert url.startswith(base + "/firmware/images/")
    return url[len(base) :]


def test_the_image_is_served_once_without_login(client, simple_update):
    path = _path(image_url_build(simple_update))
    first = client.get(path)
    assert first.status_code == 200
    assert b"".join(first.streaming_content) == build_image("BIOS", "3.0.7")
    assert first["Cache-Control"] == "no-store"
    second = client.get(path)
    assert second.status_code == 410
    assert "already used" in second.json()["detail"]
    fetched = AuditEvent.objects.filter(action="firmware.image_fetched").order_by("id")
    assert [e.result for e in fetched] == ["ok", "refused"]


def test_an_expired_link_is_gone(client, simple_update, settings):
    settings.FIRMWARE_IMAGE_URL_TTL = 1800

    class LongAgo(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - 1801)

    image_url_build(simple_update)
    simple_update.refresh_from_db()
    token = LongAgo(salt=SALT).sign_object(
        {"i": simple_update.image_id, "u": simple_update.pk, "n": simple_update.url_nonce}
    )
    response = client.get(reverse("firmware-image", args=[token]))
    assert response.status_code == 410 and "expired" in response.json()["detail"]
    simple_update.refresh_from_db()
    assert simple_update.url_fetched_at is None  # an expired link consumes nothing


@pytest.mark.parametrize(
    "spoil",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # signature
        lambda token: "x" + token,  # payload
        lambda token: signing.TimestampSigner(salt="another").sign_object({"i": 1}),
    ],
)
def test_a_tampered_link_is_refused(client, simple_update, spoil):
    token = _path(image_url_build(simple_update)).split("/")[-2]
    response = client.get(reverse("firmware-image", args=[spoil(token)]))
    assert response.status_code == 403
    assert response.json() == {"detail": "This is not a valid image link."}


def test_a_link_replaced_by_a_newer_one_is_gone(client, simple_update):
    old = _path(image_url_build(simple_update))
    new = _path(image_url_build(simple_update))
    assert client.get(old).status_code == 410
    served = client.get(new)
    assert served.status_code == 200
    served.close()


def test_a_link_of_an_update_that_is_over_is_gone(client, simple_update):
    path = _path(image_url_build(simple_update))
    FirmwareUpdate.objects.filter(pk=simple_update.pk).update(state=State.FAILED)
    response = client.get(path)
    assert response.status_code == 410 and "is over" in response.json()["detail"]


def test_the_link_serves_only_its_own_update(client, simple_update, engineer, site):
    other = request(
        engineer,
        NodeFactory(site=site, bmc_protocol="redfish"),
        store(engineer, "NIC", "22.60.0"),
        method="simple",
    )
    image_url_build(other)
    other.refresh_from_db()
    token = signing.TimestampSigner(salt=SALT).sign_object(
        {"i": simple_update.image_id, "u": other.pk, "n": other.url_nonce}
    )
    assert client.get(reverse("firmware-image", args=[token])).status_code == 410


@pytest.mark.django_db(transaction=True)
def test_the_lab_bmc_pulls_the_signed_url_once_and_the_update_succeeds(
    live_server, lab, fw_node, engineer, clock, lab_redfish_clock, settings, monkeypatch
):
    settings.FIRMWARE_IMAGE_BASE_URL = live_server.url
    # No broker here: the test plays the workers.
    monkeypatch.setattr(services, "firmware_update_enqueue", lambda update_id: None)
    monkeypatch.setattr(hardware_tasks.power_execute_task, "delay", lambda action_id: None)
    fetched = []
    service = lab.redfish.service(0)
    real_opener = service.image_opener  # the lab's own HTTP(S) client

    def opener(uri, timeout):
        fetched.append(uri)
        return real_opener(uri, timeout=timeout)

    service.image_opener = staticmethod(opener)
    update = request(engineer, fw_node, store(engineer, "BIOS", "3.0.8"), method="simple")
    update, _ = advance(update, clock)
    assert update.state == State.RUNNING
    task = service.tasks[update.task_uri.rsplit("/", 1)[1]]
    assert task.fetched.wait(30)  # the lab's fetch thread has the image (or gave up)
    assert task.error is None
    assert len(fetched) == 1 and fetched[0].startswith(live_server.url + "/firmware/images/")
    update.refresh_from_db()
    assert update.url_fetched_at is not None
    again = requests.get(fetched[0], timeout=30)
    assert again.status_code == 410 and "already used" in again.json()["detail"]

    lab_redfish_clock.advance(UPDATE_SECONDS)
    update, _ = advance(update, clock)
    update, _ = advance(update, clock)
    run_power(update)
    update, _ = advance(update, clock)
    update, _ = advance(update, clock)
    assert (update.state, update.version_read_back) == (State.SUCCEEDED, "3.0.8")
