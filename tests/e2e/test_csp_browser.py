"""The Content-Security-Policy in a real browser (decision 25): Chromium enforces it, the
browser tests' listener (tests/e2e/conftest.py) sees what it blocks, and the pages with the
most JavaScript of their own (the login form, Swagger UI with its nonced script) run under it.
htmx, Plotly, xterm.js and passkeys are proven by their own browser tests, which fail on any
violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import TIMEOUT_MS, watch_csp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_injected_inline_script_is_blocked_and_reported(browser, live_server):
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    violations = watch_csp(context)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        expect(page.locator("form").first).to_be_visible()
        assert violations == []
        # What an XSS would do: add a script to the page. The policy refuses to run it.
        page.evaluate(
            """() => { const s = document.createElement("script");
                       s.textContent = "window.__injected = true";
                       document.body.append(s); }"""
        )
        # The violation reaches Python through the page binding: wait for it (bounded).
        for _ in range(TIMEOUT_MS // 100):
            if violations:
                break
            page.wait_for_timeout(100)
        assert page.evaluate("() => window.__injected === undefined")
    finally:
        context.close()
    assert violations, "no violation reported"
    assert "script-src" in violations[0], violations


def test_swagger_ui_runs_under_the_policy(page, live_server, client, partner):
    client.force_login(partner)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/api/v1/docs/")
    # Rendered by the nonced inline script from the schema it fetched: the policy let it run.
    expect(page.locator("#swagger-ui .information-container")).to_be_visible()
    expect(page.locator("#swagger-ui")).to_contain_text("/api/v1/sites/")
