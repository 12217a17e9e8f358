"""An engineer rotates a node's BMC password from the node page, in a real browser: the button,
the confirmation, and the card afterwards (the task runs in the server, against a lab BMC)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.hardware.drivers import ipmi
from apps.hardware.tasks import bmc_password_rotate_task
from apps.sites.models import Node
from tests.e2e.login import log_in
from tests.factories import UserFactory
from tests.hardware.redfish_nodes import dual_lab_node

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lab_node(make_dual_lab, settings, monkeypatch):
    settings.BMC_TIMEOUT = 10.0  # bounds a broken run only
    # the worker's part, run in the server as soon as the request commits
    monkeypatch.setattr(
        bmc_password_rotate_task, "delay", lambda *args: bmc_password_rotate_task.apply(args)
    )
    lab = make_dual_lab(count=1)
    node = dual_lab_node(lab, 0, bmc_protocol="ipmi", name="lyo-001-n07")
    UserFactory(username="engineer-rot", role=Role.ENGINEER)
    yield lab, node
    ipmi.close_all()


def test_an_engineer_rotates_a_bmc_password_after_confirming(lab_node, live_server, page: Page):
    lab, node = lab_node
    log_in(page, live_server.url, "engineer-rot")
    page.goto(f"{live_server.url}/nodes/{node.pk}/")

    card = page.get_by_test_id("bmc-password")
    expect(card).to_contain_text("Password rotated: never by Heatsite")
    page.get_by_test_id("rotate-bmc-password").click()
    confirm = page.get_by_test_id("bmc-password-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("only then stored")
    expect(page.locator("#modal-content")).to_contain_text(f"Rotate BMC password — {node.name}")
    page.get_by_test_id("confirm-rotate-bmc-password").click()

    expect(page.get_by_text(f"Rotating the BMC password of {node.name}: queued.")).to_be_visible()
    expect(card).to_have_attribute("data-state", "idle")
    expect(page.get_by_test_id("bmc-password-rotated-at")).to_be_visible()
    node.refresh_from_db()
    assert node.bmc_password != "password"
    assert lab.bmc(0).password_for("admin") == node.bmc_password
    assert node.bmc_password not in page.content()
    assert Node.objects.get(pk=node.pk).bmc_rotation_state == ""
