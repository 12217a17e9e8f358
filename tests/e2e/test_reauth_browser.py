"""Re-authentication in a real browser: a dangerous action from a session whose factor was used
6 minutes ago asks for a code, then proceeds without being asked for again."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Role, User
from apps.hardware.tasks import bmc_password_rotate_task
from apps.identity import factors
from tests.e2e.login import fresh_code, log_in
from tests.factories import NodeFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_stale_session_confirms_with_a_code_and_the_action_proceeds(
    live_server, page: Page, site, monkeypatch
):
    queued = []
    monkeypatch.setattr(bmc_password_rotate_task, "delay", lambda *args: queued.append(args))
    node = NodeFactory(site=site, name="lyo-001-n09")
    UserFactory(username="engineer-reauth", role=Role.ENGINEER)
    log_in(page, live_server.url, "engineer-reauth")
    user = User.objects.get(username="engineer-reauth")
    # six minutes later (the server runs in this process: its identity clock moves too)
    monkeypatch.setattr("apps.identity.clock.now", lambda: time.time() + 6 * 60)

    page.goto(f"{live_server.url}/nodes/{node.pk}/")
    page.get_by_test_id("rotate-bmc-password").click()
    page.get_by_test_id("confirm-rotate-bmc-password").click()

    expect(page).to_have_url(re.compile(r"/account/reauth/"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Confirm it is you")
    assert queued == []
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("That code is not valid")).to_be_visible()
    page.get_by_label("Code from your authenticator app").fill(
        fresh_code(user, factors.totp_secret(user))
    )
    page.get_by_role("button", name="Confirm").click()

    # the held request ran: the rotation is queued, not asked for again
    expect(page.get_by_text(f"Rotating the BMC password of {node.name}: queued.")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/nodes/{node.pk}/"))
    assert len(queued) == 1
