"""Hardware parts of the node and site pages, the power fragments, the API and live events."""

import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from apps.hardware import details, services
from apps.hardware import sweep as sweep_module
from apps.hardware.models import PowerAction, PowerBatch
from apps.hardware.sweep import CircuitBreaker
from apps.hardware.tasks import power_execute_task
from apps.lab.bmc import node as lab_node
from tests.factories import NodeFactory


@pytest.fixture(autouse=True)
def _isolated(settings, monkeypatch):
    settings.BMC_TIMEOUT = 3.0  # live BMCs get two sends (one in 1-2 s could be lost)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    monkeypatch.setattr(sweep_module, "default_breaker", CircuitBreaker())
    # the broker is not the point here: a queued action runs at once, in this process
    monkeypatch.setattr(services, "_send", lambda pk: power_execute_task.apply(args=[pk]))


@pytest.fixture
def polled_node(lab, site):
    """A lab node polled once, with inventory, firmware and a persistent UEFI boot override."""
    node = NodeFactory(site=site, name="lyo-0001-n07", bmc_port=lab.port(0))
    lab.bmc(0).boot = {"device": "network", "persistent": True, "uefi": True}
    services.bmc_sweep_nodes([node.pk])
    details.bmc_details_refresh(node.pk)
    node.refresh_from_db()
    return node


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.mark.django_db
def test_node_page_shows_sensors_boot_device_inventory_firmware_and_history(
    client, engineer, polled_node, lab, django_capture_on_commit_callbacks
):
    client.force_login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        with_history = services.power_request(actor=engineer, node=polled_node, kind="reset")
    page = html(client.get(reverse("node-detail", args=[polled_node.pk])))
    assert 'data-testid="sensor-table"' in page
    assert "Water Outlet" in page and "System Power" in page
    assert "Next boot: <strong>network</strong> (persistent, UEFI)" in page
    assert "Heatsite Lab" in page and "HX-500 water-cooled node" in page
    assert "BMC Version" in page and "2.41" in page
    assert 'data-testid="sensor-chart"' in page
    figure = json.loads(page.split('id="sensor-figure" type="application/json">')[1].split("<")[0])
    assert figure["data"][0]["y"] == [pytest.approx(300, abs=5)]
    local = polled_node.last_seen.astimezone(polled_node.site.tzinfo)
    assert figure["data"][0]["x"] == [local.strftime("%Y-%m-%d %H:%M:%S")]
    assert 'data-testid="action-history"' in page
    with_history.refresh_from_db()
    assert with_history.status == "succeeded"
    assert with_history.result in page
    assert 'data-testid="power-controls"' in page
    assert "unavailable on this BMC" not in page


@pytest.mark.django_db
def test_node_page_says_which_features_the_bmc_lacks(client, engineer, lab, site, monkeypatch):
    lab.bmc(1).faults.no_dcmi = True
    monkeypatch.delitem(lab_node._HANDLERS, (0x0A, 0x10))  # FRU refused (0xC1)
    node = NodeFactory(site=site, bmc_port=lab.port(1))
    services.bmc_sweep_nodes([node.pk])
    details.bmc_details_refresh(node.pk)
    client.force_login(engineer)
    page = html(client.get(reverse("node-detail", args=[node.pk])))
    assert "FRU inventory unavailable on this BMC." in page
    assert "No DCMI power reading on this BMC" in page
    assert "BMC Version" in page  # the rest still shows


@pytest.mark.django_db
def test_node_page_of_an_unreachable_bmc_shows_the_cause(client, engineer, lab, site, settings):
    settings.BMC_TIMEOUT = 1.0
    lab.bmc(2).faults.unreachable = True
    node = NodeFactory(site=site, bmc_port=lab.port(2))
    services.bmc_sweep_nodes([node.pk])
    client.force_login(engineer)
    page = html(client.get(reverse("node-detail", args=[node.pk])))
    assert "Last poll failed: No answer from admin@127.0.0.1" in page
    assert "next try after" in page


@pytest.mark.django_db
def test_power_confirmation_names_node_site_and_heat_lost(client, engineer, site):
    node = NodeFactory(site=site, name="lyo-0001-n03", power_state="on", power_w=400.0)
    client.force_login(engineer)
    url = reverse("node-power-confirm", args=[node.pk])
    page = html(client.get(url, {"action": "off"}))
    assert "Power off (hard) — lyo-0001-n03" in page
    assert "Piscine Lyon" in page and "lyo-0001" in page
    assert "<strong>0.36 kW</strong>" in page  # 400 W x 0.9
    assert 'data-testid="heat-at-risk"' in page
    assert "btn-danger" in page

    on = html(client.get(url, {"action": "on"}))
    assert 'data-testid="heat-at-risk"' not in on  # powering on costs no heat
    assert client.get(url, {"action": "explode"}).status_code == 400


@pytest.mark.django_db
def test_bulk_confirmation_lists_the_nodes_and_sums_their_heat(client, engineer, site):
    running = [
        NodeFactory(site=site, name="lyo-a", power_state="on", power_w=400.0),
        NodeFactory(site=site, name="lyo-b", power_state="on", power_w=500.0),
    ]
    idle = NodeFactory(site=site, name="lyo-c", power_state="off", power_w=0.0)
    client.force_login(engineer)
    url = reverse("site-power-confirm", args=[site.pk])
    page = html(client.get(url, {"action": "soft"}))
    assert "Soft shutdown — 3 nodes" in page
    assert all(name in page for name in ("lyo-a", "lyo-b", "lyo-c"))
    assert "<strong>0.81 kW</strong>" in page  # (400 + 500) W x 0.9, the idle node costs nothing
    assert "these nodes are" in page

    selected = html(client.get(url, {"action": "off", "nodes": [running[0].pk, idle.pk]}))
    assert "Power off (hard) — 2 nodes" in selected
    assert "lyo-b" not in selected
    assert "<strong>0.36 kW</strong>" in selected


@pytest.mark.django_db
def test_batch_progress_counts_done_and_failed(client, engineer, site):
    batch = PowerBatch.objects.create(site=site, action="off", requested_by=engineer)
    for i, status in enumerate(["succeeded", "failed", "running"]):
        PowerAction.objects.create(
            node=NodeFactory(site=site, name=f"lyo-p{i}"), kind="off", status=status, batch=batch
        )
    client.force_login(engineer)
    page = html(client.get(reverse("power-batch", args=[batch.pk])))
    assert "<span>2 / 3</span>" in page
    assert 'aria-valuenow="67"' in page
    assert "lyo-p1: Failed" in page and "lyo-p2: Running" in page
    assert "progress-bar-animated" in page
    assert 'hx-trigger="hardware-changed from:body' in page  # refreshed by live events


@pytest.mark.django_db
def test_bulk_power_post_queues_the_selection_and_shows_progress(
    client, engineer, lab, site, django_capture_on_commit_callbacks
):
    nodes = [NodeFactory(site=site, bmc_port=lab.port(i)) for i in range(3)]
    client.force_login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("site-power", args=[site.pk]),
            {"action": "off", "nodes": [nodes[0].pk, nodes[2].pk], "concurrency": "1"},
        )
    batch = PowerBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/sites/{site.pk}/?batch={batch.pk}#power"
    assert batch.concurrency == 1
    assert sorted(batch.actions.values_list("status", flat=True)) == ["succeeded", "succeeded"]
    assert [lab.bmc(i).power_state for i in range(3)] == ["off", "on", "off"]
    page = html(client.get(response["Location"]))
    assert f'hx-get="{reverse("power-batch", args=[batch.pk])}"' in page


@pytest.mark.django_db
def test_boot_device_form_without_the_uefi_box_asks_for_legacy_boot(
    client, engineer, lab, site, django_capture_on_commit_callbacks
):
    node = NodeFactory(site=site, bmc_port=lab.port(3))
    client.force_login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("node-boot-device", args=[node.pk]), {"device": "disk", "persistent": "on"}
        )
    assert response.status_code == 302
    assert lab.bmc(3).boot == {"device": "disk", "persistent": True, "uefi": False}


@pytest.mark.django_db
def test_conflicting_power_post_tells_the_engineer(client, engineer, site, monkeypatch):
    monkeypatch.setattr(services, "_send", lambda pk: None)  # stays queued
    node = NodeFactory(site=site, name="lyo-busy")
    client.force_login(engineer)
    url = reverse("node-power", args=[node.pk])
    client.post(url, {"action": "off"})
    page = html(client.post(url, {"action": "on"}, follow=True))
    assert "lyo-busy already has an action in progress (power off (hard))" in page
    assert PowerAction.objects.count() == 1


@pytest.mark.django_db
def test_api_power_request_returns_202_and_the_action_url(
    client, engineer, lab, site, django_capture_on_commit_callbacks
):
    node = NodeFactory(site=site, bmc_port=lab.port(0))
    lab.bmc(0).set_power("off")
    client.force_login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("api:node-power", args=[node.pk]),
            {"action": "on"},
            content_type="application/json",
        )
    assert response.status_code == 202
    body = response.json()
    assert response["Location"] == body["url"] == f"/api/v1/power-actions/{body['id']}/"
    detail = client.get(body["url"]).json()
    assert (detail["status"], detail["state_after"], detail["node_name"]) == (
        "succeeded",
        "on",
        node.name,
    )
    bad = client.post(
        reverse("api:node-power", args=[node.pk]),
        {"action": "explode"},
        content_type="application/json",
    )
    assert bad.status_code == 400


@pytest.mark.django_db
def test_planner_sees_no_power_controls_on_the_site_page(client, planner, engineer, admin_user):
    node = NodeFactory(name="lyo-x1", power_state="on", power_w=400.0)
    url = reverse("site-detail", args=[node.site_id])
    client.force_login(planner)
    page = html(client.get(url))
    for marker in ('data-testid="bulk-power"', 'data-testid="node-table"', "lyo-x1", "Reset"):
        assert marker not in page
    client.force_login(admin_user)  # sees the hardware, may not switch it
    page = html(client.get(url))
    assert "lyo-x1" in page and 'data-testid="bulk-power"' not in page
    assert 'name="nodes"' not in page
    client.force_login(engineer)
    page = html(client.get(url))
    assert 'data-testid="bulk-power"' in page and 'name="nodes"' in page


# -- live events -------------------------------------------------------------------------


def _headers(client):
    cookie = client.cookies["sessionid"].value
    return [
        (b"origin", b"http://testserver"),
        (b"host", b"testserver"),
        (b"cookie", f"sessionid={cookie}".encode()),
    ]


@pytest.mark.django_db(transaction=True)
def test_engineers_get_power_and_state_events_live_and_partners_none(
    client, engineer, partner, lab, site
):
    from django.test import Client

    from heatsite.asgi import application

    node = NodeFactory(site=site, bmc_port=lab.port(0))
    client.force_login(engineer)
    partner_client = Client()
    partner_client.force_login(partner)
    path = f"/ws/sites/{site.pk}/"

    async def scenario():
        engineer_ws = WebsocketCommunicator(application, path, headers=_headers(client))
        partner_ws = WebsocketCommunicator(application, path, headers=_headers(partner_client))
        # 60 s bound a broken run only; receive_nothing's 0.5 s can only make the test pass
        assert (await engineer_ws.connect(timeout=60))[0]
        assert (await partner_ws.connect(timeout=60))[0]
        try:
            await sync_to_async(services.power_request)(actor=engineer, node=node, kind="off")
            events = [await engineer_ws.receive_json_from(timeout=60) for _ in range(3)]
            lab.bmc(0).set_power("on")  # someone powered it back on at the site
            await sync_to_async(services.bmc_sweep_nodes)([node.pk])
            events.append(await engineer_ws.receive_json_from(timeout=60))
            assert await partner_ws.receive_nothing(timeout=0.5)
            return events
        finally:
            await engineer_ws.disconnect()
            await partner_ws.disconnect()

    events = async_to_sync(scenario)()
    assert [(e["type"], e.get("status")) for e in events] == [
        ("node.power_action", "pending"),
        ("node.power_action", "running"),
        ("node.power_action", "succeeded"),
        ("node.state", None),
    ]
    assert {e["node_id"] for e in events} == {node.pk}
    assert (events[3]["power_state"], events[3]["reachable"]) == ("on", True)
