"""An engineer changes BIOS settings from the node page in a real browser: the form in the modal,
a refused value shown in place, the diff, the confirmation, and the pending change afterwards
(staged on a lab Redfish BMC by the server)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.hardware import details
from apps.hardware.drivers.redfish import transport
from tests.e2e.login import log_in
from tests.factories import UserFactory
from tests.hardware.redfish_nodes import dual_lab_node

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lab_node(make_dual_lab, settings):
    settings.BMC_TIMEOUT = 10.0  # bounds a broken run only
    lab = make_dual_lab(count=1)
    node = dual_lab_node(lab, 0, accepted=True, bmc_protocol="redfish", name="lyo-001-n08")
    details.bmc_details_refresh(node.pk)
    UserFactory(username="engineer-bios", role=Role.ENGINEER)
    yield lab, node
    transport.close_all()


def test_an_engineer_reviews_and_stages_a_bios_change(lab_node, live_server, page: Page):
    lab, node = lab_node
    log_in(page, live_server.url, "engineer-bios")
    page.goto(f"{live_server.url}/nodes/{node.pk}/")

    page.get_by_test_id("bios-edit").click()
    form = page.get_by_test_id("bios-form")
    expect(form).to_be_visible()
    page.get_by_label("Turbo Mode").select_option("Disabled")
    fan = page.get_by_label("Minimum Fan Speed (%)")
    fan.evaluate("input => input.removeAttribute('max')")  # past the browser's own check
    fan.fill("150")
    page.get_by_test_id("bios-review").click()
    expect(page.get_by_test_id("bios-error")).to_contain_text("150 is outside 0…100")

    page.get_by_label("Minimum Fan Speed (%)").fill("35")
    page.get_by_test_id("bios-review").click()
    diff = page.get_by_test_id("bios-diff")
    expect(diff).to_contain_text("Turbo Mode")
    expect(diff).to_contain_text("Enabled")
    expect(diff).to_contain_text("Disabled")
    assert lab.redfish.service(0).bios_pending == {}  # nothing sent before the confirmation
    page.get_by_test_id("bios-confirm").click()

    expect(page.get_by_text("they apply at the node's next reset")).to_be_visible()
    expect(page.get_by_test_id("bios-pending-note")).to_contain_text("2 changes pending")
    expect(page.locator('tr[data-attribute="ProcTurboMode"][data-pending="true"]')).to_be_visible()
    assert lab.redfish.service(0).bios_pending == {
        "ProcTurboMode": "Disabled",
        "FanMinimumPercent": 35,
    }
