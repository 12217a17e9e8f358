"""Role fixtures and service checks shared by the whole suite."""

import os
import tempfile
import threading
import time
from pathlib import Path

import pytest

from apps.accounts.models import Role
from tests import vectors as public_vectors
from tests.factories import NodeFactory, OrganisationFactory, SiteFactory, UserFactory


def pytest_sessionstart(session):
    # CI must run on the real services: fail, never skip, when they are unreachable.
    if os.environ.get("HEATSITE_REQUIRE_SERVICES") != "1":
        return
    import psycopg
    import redis
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        raise pytest.UsageError(f"CI expects PostgreSQL, DATABASE_URL gives {db['ENGINE']}")
    try:
        psycopg.connect(
            host=db["HOST"],
            port=db["PORT"] or 5432,
            user=db["USER"],
            dbname=db["NAME"],
            connect_timeout=5,
        ).close()
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5).ping()
    except Exception as exc:
        raise pytest.UsageError(f"CI services unreachable: {exc}") from exc


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    # SQLite's test database lives in a file, not in memory, so that the processes some tests
    # start (a Celery worker, an ASGI server) see the same data as the test.
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = str(
            Path(tempfile.gettempdir()) / f"heatsite-test-{os.getpid()}.sqlite3"
        )


@pytest.fixture(scope="session", autouse=True)
def _end_stray_database_sessions(django_db_setup, django_db_blocker):
    """Ends what the servers and workers some tests start left connected to the test database,
    so PostgreSQL lets pytest-django drop it (torn down before `django_db_setup`)."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's 1M iterations cost ~0.5 s per user; the suite creates hundreds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request (or a login) in a user's language
    leaves that language active in the thread, as Django does between requests."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture(autouse=True)
def _empty_cache():
    # Sign-in lockout counts (per username and per address, 127.0.0.1 for every test client)
    # and allauth's rate limits live in the cache: each test starts with none.
    # Only a per-process cache is emptied: clear() on Redis would flush a whole database.
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()


@pytest.fixture(autouse=True)
def _staff_logged_in_through_the_factor(request, monkeypatch):
    """TEST-ONLY SHORTCUT: `client.force_login(user)` / `client.login(...)` of a Django test
    client also records in the session that the second factor was passed (and starts the
    re-authentication window), as the real login (password, then TOTP/passkey) does. Without
    it every engineer/admin test would meet the enrolment redirect. Tests of the factor itself
    opt out with `@pytest.mark.real_factor`. Playwright tests log in through the real form and
    TOTP step instead (tests/e2e/login.py)."""
    if request.node.get_closest_marker("real_factor"):
        return
    from django.http import HttpRequest
    from django.test.client import ClientMixin

    from apps.identity import factors

    original = ClientMixin._login

    def _login(self, user, backend=None):
        original(self, user, backend)
        fake = HttpRequest()
        fake.session, fake.user = self.session, user
        factors.record_factor(fake, user, factors.TOTP, test_shortcut=True)
        fake.session.save()

    monkeypatch.setattr(ClientMixin, "_login", _login)


@pytest.fixture
def partner_org(db):
    return OrganisationFactory(name="Réseau Chaleur Urbaine")


@pytest.fixture
def other_org(db):
    return OrganisationFactory(name="Eau Chaude Nord")


@pytest.fixture
def site(partner_org):
    return SiteFactory(partner=partner_org, code="lyo-0001", name="Piscine Lyon")


@pytest.fixture
def other_site(other_org):
    return SiteFactory(partner=other_org, code="lil-0002", name="Lycée Lille")


@pytest.fixture
def node(site):
    return NodeFactory(site=site, name="lyo-0001-n01")


@pytest.fixture
def partner(partner_org):
    return UserFactory(username="partner", role=Role.PARTNER, organisation=partner_org)


@pytest.fixture
def other_partner(other_org):
    return UserFactory(username="other-partner", role=Role.PARTNER, organisation=other_org)


@pytest.fixture
def engineer(db):
    return UserFactory(username="engineer", role=Role.ENGINEER)


@pytest.fixture
def planner(db):
    return UserFactory(username="planner", role=Role.PLANNER)


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", role=Role.ADMIN)


@pytest.fixture
def users(partner, other_partner, engineer, planner, admin_user):
    return {
        "partner": partner,
        "other_partner": other_partner,
        "engineer": engineer,
        "planner": planner,
        "admin": admin_user,
    }


# --- optional interoperability tests on the public event-log vectors (tests/vectors.py) -------


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "real_factor: no second-factor shortcut for test clients' force_login"
    )
    public_vectors.load()  # a HEATSITE_VECTORS naming no vectors stops the run here


def pytest_collection_modifyitems(config, items):
    absent = not public_vectors.available()
    for item in items:
        if "vectors" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.vectors)
        if absent and item.get_closest_marker("vectors"):
            item.add_marker(pytest.mark.skip(reason=public_vectors.SKIP_REASON))


@pytest.fixture(scope="session")
def vectors():
    """The public event-log vectors (tests/vectors.py); tests using it are vector tests."""
    found = public_vectors.load()
    if found is None:
        pytest.skip(public_vectors.SKIP_REASON)
    return found


def pytest_terminal_summary(terminalreporter):
    """Says how many vector tests ran, or why they were skipped."""
    outcomes: dict[str, str] = {}
    for key in ("passed", "failed", "error", "skipped", "xfailed", "xpassed"):
        for report in terminalreporter.stats.get(key, ()):
            if "vectors" in getattr(report, "keywords", {}) and outcomes.get(report.nodeid) in (
                None,
                "passed",
                "skipped",
            ):
                outcomes[report.nodeid] = report.outcome
    if not outcomes and not public_vectors.available():
        return
    ran = sum(1 for outcome in outcomes.values() if outcome != "skipped")
    skipped = len(outcomes) - ran
    if public_vectors.available():
        failed = sum(1 for outcome in outcomes.values() if outcome == "failed")
        line = f"vector tests: {ran} ran ({failed} failed), {skipped} skipped"
        line += f" ({public_vectors.ENV}={os.environ[public_vectors.ENV]})"
    else:
        line = f"vector tests: {skipped} skipped ({public_vectors.SKIP_REASON})"
    terminalreporter.write_sep("-", line)


# --- a clock for the lab BMCs that only moves when a test says so -----------------------------


class LabBmcClock:
    """Stands in for ``time`` in the lab BMC modules: ``monotonic()`` stands still until
    ``advance()``, so power delays and idle expiry happen exactly when a test says, however
    busy the machine is. Everything else is the real ``time``."""

    def __init__(self):
        self._time = time
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    @staticmethod
    def settle(lab) -> None:
        """Returns once ``lab``'s loop has run every timer due at the current time."""
        done = threading.Event()
        lab.call_later(0, done.set)
        assert done.wait(60), "the lab BMC loop did not run"  # bounds a stuck loop only

    def __getattr__(self, name):
        return getattr(self._time, name)


@pytest.fixture
def lab_bmc_clock(monkeypatch):
    """The lab BMCs' clock, stopped (see LabBmcClock); the lab loop still runs for real."""
    from apps.lab.bmc import node, server, session

    clock = LabBmcClock()
    for module in (server, node, session):
        monkeypatch.setattr(module, "time", clock)
    return clock


# --- lab BMCs with both faces (IPMI over UDP, Redfish over HTTPS) -----------------------------


class LabRedfishClock:
    """A clock for the lab's Redfish sessions that only moves on ``advance()``."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def lab_redfish_clock():
    return LabRedfishClock()


@pytest.fixture
def make_dual_lab(tmp_path_factory, lab_redfish_clock):
    """Factory: ``make_dual_lab(count=N, **options)`` starts N lab BMCs with both faces on free
    ports (certificates in a fresh directory, session clock `lab_redfish_clock`) and returns the
    `DualFaceLab`: ``lab.ipmi.endpoint(i)``, ``lab.redfish.endpoint(i)`` (URL, credentials,
    ``cert_path``, ``fingerprint``). Everything is stopped at teardown."""
    from apps.hardware.drivers import ipmi
    from apps.lab.redfish.fleet import DualFaceLab

    labs = []

    def make(count: int = 2, redfish_options: dict | None = None, **options):
        redfish = {"clock": lab_redfish_clock, **(redfish_options or {})}
        lab = DualFaceLab(
            count=count,
            state_dir=tmp_path_factory.mktemp("redfish-certs"),
            redfish_options=redfish,
            **options,
        ).start()
        labs.append(lab)
        return lab

    yield make
    ipmi.close_all()
    for lab in labs:
        lab.stop()


@pytest.fixture
def dual_lab(make_dual_lab):
    """Two lab BMCs, powered on, admin/password, with IPMI and Redfish faces."""
    return make_dual_lab(count=2)
