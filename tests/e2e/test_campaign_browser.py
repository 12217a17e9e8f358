"""The firmware campaign loop through the UI, in a real browser, on the lab, with a real worker.

An engineer reads a signed bundle's predictions, plans a campaign from the compliance view's
link (the dry run comes with the form), creates it and is told to wait for a second engineer,
who approves and starts it; the first engineer's page follows the waves live over the
campaign's websocket while a real Celery worker drives the rounds against lab Redfish BMCs
whose hosts carry lab TPMs, until "completed" with every node attested. A second campaign, on
a lab build that measures differently from its prediction, halts and its page names the
divergent event.

In this process: the ASGI application (uvicorn, in a thread) and the lab (BMCs, TPMs). Apart:
Chromium and the worker (prefork, on a queue of its own). Pushes go through the Redis channel
layer under a prefix of this test's own, which the server and the worker share. The test plays
the beat: one `campaign_advance` round at a time, waiting for the worker to stamp it.
"""

from __future__ import annotations

import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from channels.layers import channel_layers
from django.conf import settings as django_settings
from django.db import connections
from django.test import Client
from playwright.sync_api import Page, expect

from apps.attestation.models import Attestation
from apps.firmware.campaign_services import campaign_create, campaign_transition
from apps.firmware.campaigns import Campaign
from apps.firmware.desired import desired_bundle_set
from apps.firmware.tasks import campaign_advance
from apps.lab.firmware import LAB_SKU
from apps.lab.tpm.node import start_fleet
from tests.celery_worker import celery_worker, database_url, wait_for
from tests.e2e.asgi import asgi_served
from tests.firmware.bundle_kit import ec_key, ed_key, trusted  # noqa: F401 (fixtures)
from tests.firmware.campaign_run_kit import NEW, OLD, make_world, with_tpms  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUEUE = f"heatsite-e2e-campaign-{os.getpid()}-{uuid.uuid4().hex[:8]}"
PREFIX = f"e2e-campaign-{uuid.uuid4().hex[:8]}"
# The worker of tests.celery_worker.WORKER_OWN_QUEUE, pushing to the test's channel layer.
WORKER = r"""
import sys
import django
django.setup()
from django.conf import settings
settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                       "CONFIG": {"hosts": [settings.REDIS_URL],
                                                  "prefix": sys.argv[2]}}}
from heatsite.celery import app
app.conf.task_default_queue = sys.argv[1]
app.worker_main(["worker", "--pool=prefork", "--concurrency=1", "-Q", sys.argv[1],
                 "-n", sys.argv[1] + "@%h", "--without-heartbeat", "--without-mingle",
                 "--without-gossip", "--loglevel=INFO"])
"""
ROUNDS = 200  # bounds a broken run only: a campaign here takes a few dozen rounds


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    """Where the bundles' images are stored: the test's and the worker's (both tests)."""
    return tmp_path_factory.mktemp("firmware")


@pytest.fixture
def layer(settings, image_root):
    redis.Redis.from_url(django_settings.REDIS_URL, socket_connect_timeout=5).ping()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [django_settings.REDIS_URL], "prefix": PREFIX},
        }
    }
    settings.FIRMWARE_IMAGE_ROOT = image_root
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def asgi_server(layer):
    """The application on a free loopback port, websockets included; yields its base URL."""
    with asgi_served() as url:
        yield url


@pytest.fixture(scope="module")
def module_worker(django_db_blocker, image_root):
    """One worker for both tests (starting one is the slow part): it reads the database and
    the images afresh for every task."""
    with django_db_blocker.unblock():
        url = database_url()
    env = {"FIRMWARE_POLL_MAX": "1", "FIRMWARE_IMAGE_ROOT": str(image_root)}
    with celery_worker(WORKER, QUEUE, PREFIX, database=url, env=env) as proc:
        yield proc


@pytest.fixture
def worker(layer, module_worker):
    return module_worker


@pytest.fixture
def lab_world(layer, make_world, tmp_path):  # noqa: F811 (the imported fixture)
    """Two lab nodes at two sites on the lab's older release, with TPMs; both releases stored
    as signed bundles, the newer one desired for the lab SKU."""
    world = make_world(per_site=1, sites=2)
    fleet = start_fleet(2, tmp_path / "tpm")
    try:
        with_tpms(world, fleet)
        desired_bundle_set(actor=world.engineer, bundle_id=world.bundles[NEW].pk)
        yield world
    finally:
        fleet.stop()


def logged_in(page: Page, base: str, user) -> Page:
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
    )
    return page


def drive(world, campaign_id: int) -> Campaign:
    """The beat: rounds of `campaign_advance` sent to the worker, each awaited until the worker
    stamped the campaign; the lab BMCs' clock moves on between rounds."""
    for _ in range(ROUNDS):
        before = Campaign.objects.get(pk=campaign_id).advanced_at
        campaign_advance.apply_async((campaign_id,), queue=QUEUE)
        wait_for(
            lambda before=before: Campaign.objects.get(pk=campaign_id).advanced_at != before,
            "a campaign round",
        )
        world.lab_clock.advance(40)  # an update task (30 s on the lab) finishes in a round
        campaign = Campaign.objects.get(pk=campaign_id)
        if campaign.state != Campaign.State.RUNNING:
            return campaign
    raise AssertionError(f"campaign still running after {ROUNDS} rounds")


def approve_and_start(campaign_id: int, world) -> None:
    try:
        campaign_transition(campaign_id=campaign_id, action="approve", actor=world.engineer2)
        campaign_transition(campaign_id=campaign_id, action="start", actor=world.engineer)
    finally:
        connections.close_all()  # this thread's own connection


WATCH_STEPS = """() => {
  window.__sameDocument = true;
  window.__steps = [];
  window.__done = [];
  new MutationObserver(() => {
    document.querySelectorAll('[data-testid="campaign-nodes"] tr[data-step]').forEach((row) => {
      const seen = row.dataset.step + "/" + row.dataset.state;
      if (!window.__steps.includes(seen)) window.__steps.push(seen);
    });
    const bar = document.querySelector('[data-testid="campaign-progress"]');
    if (bar && window.__done[window.__done.length - 1] !== bar.dataset.done) {
      window.__done.push(bar.dataset.done);
    }
  }).observe(document.getElementById("campaign-page"),
             { subtree: true, attributes: true, childList: true });
}"""


def test_engineers_plan_approve_and_watch_a_campaign_complete_attested(
    lab_world, asgi_server, worker, page: Page, browser
):
    world = lab_world
    logged_in(page, asgi_server, world.engineer)

    # the bundle's predictions: every lab node has its PCR values
    page.goto(f"{asgi_server}/firmware/bundles/{world.bundles[NEW].pk}/")
    predictions = page.get_by_test_id("bundle-predictions")
    for node in world.nodes:
        expect(predictions).to_contain_text(node.name)
    expect(page.get_by_test_id("prediction-reason")).to_have_count(0)

    # the compliance view: both nodes behind; its link plans a campaign for them
    page.goto(f"{asgi_server}/firmware/compliance/?sku={LAB_SKU}&status=behind")
    expect(page.get_by_test_id("compliance-status")).to_have_count(2)
    page.get_by_test_id("plan-campaign").click()
    expect(page).to_have_url(re.compile(r"/firmware/campaigns/new/\?.*status=behind"))
    dry_run = page.get_by_test_id("campaign-dry-run")
    expect(dry_run).to_contain_text("2 eligible")  # shown at once, from the link
    expect(page.get_by_test_id("campaign-origin")).to_contain_text("2 nodes match")
    expect(page.locator("#c-bundle")).to_have_value(str(world.bundles[NEW].pk))
    page.locator("#c-waves").fill("rest,1")  # refused, with the reason, and nothing to create
    page.locator("#c-waves").blur()  # "change": the dry run follows the form
    expect(page.get_by_test_id("campaign-refusal")).to_contain_text("can only be the last wave")
    expect(page.get_by_test_id("campaign-create")).to_have_count(0)
    page.locator("#c-name").fill("lab BIOS")
    page.locator("#c-canary").uncheck()
    page.locator("#c-waves").fill("1,rest")
    for key, value in (("soak_minutes", "0"), ("retries", "0"), ("error_min_sample", "1")):
        page.locator(f"#c-{key}").fill(value)
    page.locator("#c-error_threshold_count").fill("1")
    page.get_by_test_id("campaign-preview").click()
    waves = page.get_by_test_id("plan-waves")
    expect(waves).to_contain_text("Wave 1")
    expect(waves).not_to_contain_text("Canary")
    page.get_by_test_id("campaign-create").click()

    # the creator waits for another engineer
    expect(page.get_by_test_id("campaign-state")).to_have_text("Planned (awaiting approval)")
    expect(page.get_by_test_id("four-eyes")).to_contain_text(
        "waiting for another engineer's approval"
    )
    expect(page.get_by_test_id("action-approve")).to_have_count(0)
    campaign = Campaign.objects.get(name="lab BIOS")
    assert campaign.created_by == world.engineer
    expect(page.locator("#campaign-page")).to_have_attribute("data-live-state", "connected")
    page.evaluate(WATCH_STEPS)

    # the second engineer approves and starts it, in a browser of their own
    other = logged_in(browser.new_context().new_page(), asgi_server, world.engineer2)
    try:
        other.goto(f"{asgi_server}/firmware/campaigns/{campaign.pk}/")
        other.get_by_test_id("action-approve").click()
        expect(other.get_by_test_id("campaign-state")).to_have_text("Approved")
        # the creator's page follows without a reload
        expect(page.get_by_test_id("campaign-state")).to_have_text("Approved")
        other.get_by_test_id("action-start").click()
        expect(other.get_by_test_id("campaign-state")).to_have_text("Running")
    finally:
        other.context.close()
    expect(page.get_by_test_id("campaign-state")).to_have_text("Running")

    campaign = drive(world, campaign.pk)
    assert campaign.state == Campaign.State.COMPLETED, campaign.reason

    expect(page.get_by_test_id("campaign-state")).to_have_text("Completed")
    expect(page.get_by_test_id("campaign-progress")).to_have_attribute("data-done", "2")
    expect(page.get_by_test_id("wave-progress")).to_have_count(2)
    for wave in page.get_by_test_id("wave-progress").all():
        expect(wave).to_have_attribute("data-done", "1")
    for node in world.nodes:
        row = page.locator(f'tr[data-node-id="{node.pk}"]')
        expect(row).to_have_attribute("data-state", "succeeded")
        expect(row.locator('[data-field="step"]')).to_have_text("Done")
        latest = Attestation.objects.filter(node=node).latest("at")
        assert (latest.verdict, latest.release_version) == ("trusted", NEW)
    assert page.evaluate("window.__sameDocument") is True
    seen = page.evaluate("window.__steps")
    # the rows moved through the steps live, the attestation among them
    assert "attesting/running" in seen and "done/succeeded" in seen, seen
    # the campaign's bar moved live: one node done (the first wave), then both
    assert page.evaluate("window.__done")[-2:] == ["1", "2"]


def test_a_build_that_measures_differently_halts_and_the_page_names_the_event(
    lab_world, asgi_server, worker, page: Page
):
    world = lab_world
    for i in range(len(world.nodes)):
        world.lab.bmc(i).faults.measures_differently = True  # `lab_control ... fault`
    campaign, _ = campaign_create(
        spec={
            "name": "lab BIOS, wrong build",
            "bundle": {"sku": LAB_SKU, "version": NEW},
            "targets": {"sites": [s.code for s in world.sites]},
            "strategy": {
                "canary": False,
                "waves": ["1", "rest"],
                "soak_minutes": 0,
                "retries": 0,
                "error_threshold_count": 1,
                "error_min_sample": 1,
            },
        },
        actor=world.engineer,
    )
    # Off the main thread, where Playwright's loop would refuse the on-commit pushes.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(approve_and_start, campaign.pk, world).result(timeout=60)
    logged_in(page, asgi_server, world.engineer)
    page.goto(f"{asgi_server}/firmware/campaigns/{campaign.pk}/")
    expect(page.locator("#campaign-page")).to_have_attribute("data-live-state", "connected")
    page.evaluate(WATCH_STEPS)

    campaign = drive(world, campaign.pk)
    assert campaign.state == Campaign.State.HALTED, campaign.reason

    expect(page.get_by_test_id("campaign-state")).to_have_text("Halted")
    reason = page.get_by_test_id("campaign-reason")
    expect(reason).to_contain_text("EV_EFI_PLATFORM_FIRMWARE_BLOB")
    (failed,) = campaign.waves.get(index=0).nodes.all()
    (untouched,) = campaign.waves.get(index=1).nodes.all()
    row = page.locator(f'tr[data-node-id="{failed.node_id}"]')
    expect(row).to_have_attribute("data-state", "failed")
    expect(row.locator('[data-field="reason"]')).to_contain_text("EV_EFI_PLATFORM_FIRMWARE_BLOB")
    expect(page.locator(f'tr[data-node-id="{untouched.node_id}"]')).to_have_attribute(
        "data-state", "pending"
    )
    expect(page.get_by_test_id("action-resume")).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True
    assert "attesting/running" in page.evaluate("window.__steps")
    # a reload shows the divergence itself: which PCR, which event
    page.reload()
    expect(page.get_by_test_id("node-divergences")).to_contain_text("PCR 0, event #2")
