"""Browser fixtures for the end-to-end tests: one headless Chromium for the whole test run.

The session-scoped fixture is the Chromium process (the slow part to start). Each test connects
Playwright to it over the DevTools protocol and disconnects at its end: Playwright's sync API
leaves its asyncio loop marked as running on the main thread for as long as it is connected, and
a session-long connection would break every later async test in the same run (pytest-asyncio,
channels' `async_to_sync`). Connecting costs about a second per test.

Use `page` (a fresh browser context per test: no cookies leak between tests) with the
`live_server` fixture. A failing test leaves a screenshot in var/test-artifacts/.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
# Generous: the machine is shared and a 2-core box under load can stall for seconds. Both only
# bound a broken run: expectations poll and pass as soon as they hold.
TIMEOUT_MS = 60_000
STARTUP_TIMEOUT_S = 60
expect.set_options(timeout=TIMEOUT_MS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    # Read by the `page` fixture's teardown to decide whether to keep a screenshot.
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def chromium() -> Iterator[str]:
    """One headless Chromium for the session, on a free loopback port; yields its CDP URL."""
    profile = tempfile.mkdtemp(prefix="heatsite-e2e-chromium-")
    proc = subprocess.Popen(
        [
            CHROMIUM,
            *CHROMIUM_ARGS,
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",  # Chromium picks a free port and writes it below
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port_file = Path(profile, "DevToolsActivePort")
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if proc.poll() is not None:
                raise RuntimeError(f"{CHROMIUM} exited with status {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{CHROMIUM} did not open its debugging port")
            time.sleep(0.05)
        port = port_file.read_text().splitlines()[0]
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(chromium: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    """A Playwright `Browser` attached to the session's Chromium for the length of one test."""
    # While Playwright is attached, Django sees the main thread as "async" and refuses ORM
    # calls (test data made after this fixture); they are plain synchronous calls here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        attached = playwright.chromium.connect_over_cdp(chromium, timeout=TIMEOUT_MS)
        try:
            yield attached
        finally:
            # Those calls also got connections of their own (asgiref's Local keys them by
            # context in an "async" thread): close them here, or on PostgreSQL they keep the
            # test database open and its teardown fails.
            connections.close_all()
            attached.close()


# Every page reports what the Content-Security-Policy blocked (decision 25): a browser test
# fails on any violation, so the htmx, Plotly, xterm.js and passkey tests prove they work
# under the policy. The listener is injected by the DevTools protocol, which CSP does not see.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__heatsiteCspViolation({directive: e.violatedDirective, blocked: e.blockedURI,
    source: e.sourceFile, line: e.lineNumber, sample: e.sample});
});
"""


def watch_csp(context) -> list[str]:
    """Violations seen in `context`'s pages (event and console), as readable lines."""
    violations: list[str] = []
    context.expose_binding(
        "__heatsiteCspViolation", lambda source, v: violations.append(f"{source['page'].url}: {v}")
    )
    context.add_init_script(CSP_LISTENER)

    def console(msg) -> None:
        if msg.type == "error" and "Content Security Policy" in msg.text:
            violations.append(f"{msg.page.url if msg.page else ''}: {msg.text}")

    context.on("console", console)
    return violations


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh context; screenshotted into var/test-artifacts/ if the test fails;
    the test fails if the Content-Security-Policy blocked anything."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    csp_violations = watch_csp(context)
    new_page = context.new_page()
    try:
        yield new_page
        if csp_violations:
            pytest.fail("Content-Security-Policy violations:\n" + "\n".join(csp_violations))
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
            # A crashed page has nothing to show; the test's own failure is the report.
            with contextlib.suppress(PlaywrightError):
                new_page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()
