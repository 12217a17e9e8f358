"""Firmware images through a site gateway's relay: the site's BMCs fetch from the gateway, the
gateway fetches each image from Heatsite once (its digest checked), and Heatsite still says yes
or no to every one-time link. The lab BMC pulls through the relay over real HTTP."""

import hashlib
from types import SimpleNamespace

import pytest
import requests

from apps.audit.models import AuditEvent
from apps.firmware import services
from apps.firmware.image_urls import image_url_build
from apps.firmware.models import FirmwareUpdate
from apps.gateways import crypto, dispatch, images, results, wire
from apps.gateways.models import Gateway, GatewaySite
from apps.hardware import tasks as hardware_tasks
from apps.lab.redfish.updates import build_image
from tests.factories import NodeFactory, SiteFactory
from tests.firmware.conftest import advance, request, store
from tests.firmware.gateway_kit import SiteGateway, drive, pump

State = FirmwareUpdate.State
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def relay(live_server, site, settings, tmp_path):
    """Gateway A serves ``site``; its relay runs here on loopback, fetching from live_server."""
    settings.FIRMWARE_IMAGE_BASE_URL = live_server.url
    keys = crypto.keys_generate()
    gateway = Gateway.objects.create(
        name="gw-a", box_public_key=keys.box_public, signing_public_key=keys.signing_public
    )
    GatewaySite.objects.create(site=site, gateway=gateway)
    config = images.relay_config(
        {
            "listen": "127.0.0.1",
            "port": 0,
            "public_url": "http://127.0.0.1:1",  # known once bound, below
            "central_url": live_server.url,
        },
        tmp_path / "state",
    )
    running = images.ImageRelay(config)
    running.keys = keys  # the gateway's, for the test that runs its worker too
    port = running.start().server_port
    # the gateway's heartbeat tells Heatsite where its site's BMCs reach the relay
    document = wire.envelope(
        gateway="gw-a",
        kind=wire.HEARTBEAT_KIND,
        call_id="",
        payload={"queue": "gw.gw-a", "image_url": f"http://127.0.0.1:{port}"},
        version="1.0",
    )
    assert results.result_receive(document, crypto.sign(keys, document)) == "heartbeat"
    yield running
    running.stop()


@pytest.fixture
def no_workers(monkeypatch):
    monkeypatch.setattr(services, "firmware_update_enqueue", lambda update_id: None)
    monkeypatch.setattr(hardware_tasks.power_execute_task, "delay", lambda action_id: None)


def test_a_sites_bmcs_share_one_download_and_each_link_still_works_once(
    relay, site, engineer, no_workers
):
    image = store(engineer, "BIOS", "3.0.9")
    first, second = (
        request(engineer, NodeFactory(site=site, bmc_protocol="redfish"), image, method="simple")
        for _ in range(2)
    )
    direct = request(
        engineer, NodeFactory(site=SiteFactory(), bmc_protocol="redfish"), image, method="simple"
    )
    url_first, url_second = image_url_build(first), image_url_build(second)
    relay_url = Gateway.objects.get(name="gw-a").image_base_url
    assert url_first.startswith(f"{relay_url}/images/{image.sha256}/")
    assert image_url_build(direct).startswith(f"{relay.config.central_url}/firmware/images/")

    body = build_image("BIOS", "3.0.9")
    for url in (url_first, url_second):
        served = requests.get(url, timeout=30)
        assert served.status_code == 200 and served.content == body
        assert served.headers["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    assert relay.downloads == 1  # the second BMC was served from the gateway's copy
    again = requests.get(url_first, timeout=30)
    assert again.status_code == 410 and "already used" in again.json()["detail"]
    fetched = AuditEvent.objects.filter(action="firmware.image_fetched").order_by("id")
    assert [e.result for e in fetched] == ["ok", "ok", "refused"]


def test_an_image_that_does_not_match_its_digest_is_not_served(relay, site, engineer, no_workers):
    image = store(engineer, "BIOS", "3.1.0")
    update = request(engineer, NodeFactory(site=site, bmc_protocol="redfish"), image, "simple")
    url = image_url_build(update).replace(image.sha256, "0" * 64)
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 502 and "did not match its digest" in answer.json()["detail"]
    assert not (relay.config.cache_dir / ("0" * 64)).exists()
    assert requests.get(url.replace("/images/", "/nothing/"), timeout=30).status_code == 404


def test_the_lab_bmc_pulls_its_image_through_the_gateway_and_applies_it_at_the_reset(
    relay, lab, fw_node, site, engineer, clock, lab_redfish_clock, monkeypatch, tmp_path
):
    """The SimpleUpdate itself, the task and the reset go through the gateway (in-process)."""
    sent, enqueued = [], []
    monkeypatch.setattr(
        dispatch, "gateway_send", lambda name, task, call, expires: sent.append((name, task, call))
    )
    monkeypatch.setattr(dispatch, "deadline_send", lambda call_id, eta: None)
    monkeypatch.setattr(services, "firmware_update_enqueue", enqueued.append)
    monkeypatch.setattr(hardware_tasks.power_execute_task, "delay", lambda action_id: None)
    gateway = SiteGateway("gw-a", site, tmp_path, keys=relay.keys, relay=relay.config)
    world = SimpleNamespace(sent=sent, gw={"gw-a": gateway}, bmc_clock=lab_redfish_clock, lab=lab)
    fetched = []
    service = lab.redfish.service(0)
    real_opener = service.image_opener

    def opener(uri, timeout):
        fetched.append(uri)
        return real_opener(uri, timeout=timeout)

    service.image_opener = staticmethod(opener)
    image = store(engineer, "BIOS", "3.0.8")
    update = request(engineer, fw_node, image, method="simple")
    for _ in range(2):  # the version read, then the SimpleUpdate, each answered by the gateway
        update, _ = advance(update, clock)
        assert pump(world) == ["answered"]
    update, _ = advance(update, clock)
    assert update.state == State.RUNNING
    assert [call["op"] for _, call in gateway.received] == ["inventory", "simple"]
    task = service.tasks[update.task_uri.rsplit("/", 1)[1]]
    assert task.fetched.wait(30) and task.error is None
    relay_url = Gateway.objects.get(name="gw-a").image_base_url
    assert len(fetched) == 1 and fetched[0].startswith(relay_url + "/images/")
    assert relay.downloads == 1
    # the relay keeps the image while the update runs: every call of it renews the pin
    assert (relay.config.cache_dir / f"{image.sha256}.pin").exists()

    update, asked = drive(world, update, clock)
    # the BMC took the image; the reset that applies it is the gateway's power action
    assert (update.state, update.version_read_back) == (State.SUCCEEDED, "3.0.8")
    assert wire.POWER_TASK in asked and update.power_action.status == "succeeded"
