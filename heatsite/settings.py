"""Heatsite settings: one module, read from the environment (see .env.example)."""

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production"  # noqa: S105

# Fernet keys (urlsafe base64, 32 bytes) for BMC credentials at rest. The first encrypts,
# all decrypt: prepend a new key, run `manage.py rotate_credentials`, then drop the old one.
CREDENTIAL_KEYS = env_list("CREDENTIAL_KEYS", "")
if not CREDENTIAL_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("CREDENTIAL_KEYS must be set when DEBUG is off.")
    CREDENTIAL_KEYS = ["ZGV2LW9ubHktY3JlZGVudGlhbC1rZXktMzJieXRlcyE="]

# API-token peppers, "id:secret" pairs: the first signs new tokens, all verify. Rotate by
# prepending a new pair; drop an old one to invalidate the tokens made with it. Unset: one
# pepper derived from SECRET_KEY (server-side either way; never stored in the database).
HEATSITE_TOKEN_PEPPERS = [
    tuple(item.split(":", 1)) for item in env_list("HEATSITE_TOKEN_PEPPERS", "")
]
if any(len(pair) != 2 or not all(pair) for pair in HEATSITE_TOKEN_PEPPERS):
    raise ImproperlyConfigured("HEATSITE_TOKEN_PEPPERS must be comma-separated id:secret pairs.")
HEATSITE_TOKEN_PEPPERS = HEATSITE_TOKEN_PEPPERS or [("k1", "heatsite-token-pepper:" + SECRET_KEY)]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "apps.core.apps.HeatsiteAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "apps.core",
    "apps.accounts",
    "apps.audit",
    "apps.sites",
    "apps.hardware",
    "apps.heat",
    "apps.attestation",
    "apps.console",
    "apps.planning",
    "apps.firmware",
    "apps.gateways",
    "apps.lab",
    "apps.identity",
    # django-allauth: login, second factors (TOTP, passkeys, recovery codes), user sessions.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "apps.tokens",
    "apps.mailings",
    "apps.ops",
]

MIDDLEWARE = [
    # First: times every request, whatever answers it (apps.ops.metrics).
    "apps.ops.middleware.RequestMetricsMiddleware",
    # First: every answer, the HTTPS redirect included, carries the CSP (apps.core.security).
    "apps.core.security.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common (Django's documented order): the browser's Accept-Language
    # or the language cookie; UserLanguageMiddleware below applies a signed-in user's choice.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Audit records say how their actor authenticated (apps.audit.context).
    "apps.audit.context.AuditContextMiddleware",
    "apps.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Idle and absolute session limits per role (apps.identity.session_limits).
    "apps.identity.session_limits.SessionLimitsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Tracks each session's address and last use for "my sessions" (apps.identity.views).
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    # After auth and messages: engineers/admins without a second factor get only enrolment.
    "apps.identity.middleware.FactorRequiredMiddleware",
    # Dangerous acts need a recent second factor (apps.identity.dangerous lists them).
    "apps.identity.guards.RecentFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "heatsite.urls"
ASGI_APPLICATION = "heatsite.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.security.nonce_context",
                "apps.accounts.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and the pollers share the demo database.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# A pool of PostgreSQL connections per process (psycopg's), for the ASGI web servers: there
# Django runs each request's sync code on a thread of its own, and a persistent connection per
# thread (CONN_MAX_AGE) let 50 engineers on one Daphne open more than 70 connections and run
# PostgreSQL out of them (benchmarks/README.md, "The web tier under load"). DB_POOL_MAX
# connections at most per process (deploy/systemd/heatsite-web.service sets it; 0: no pool,
# as Celery's forked workers want); a request waits up to DB_POOL_TIMEOUT s for one.
DB_POOL_MAX = int(os.environ.get("DB_POOL_MAX", "0"))
if DB_POOL_MAX > 0 and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django's pool replaces persistent connections
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX,
        "timeout": float(os.environ.get("DB_POOL_TIMEOUT", "10")),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    # ModelBackend behind the sign-in lockout, for every door (apps.identity.backends).
    "apps.identity.backends.LockoutModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# Login and second factors: django-allauth (docs/decisions.md, 22). Accounts are made by admins
# only (no sign-up); login by username; password reset by e-mail never logs in.
ACCOUNT_ADAPTER = "apps.identity.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_LOGOUT_REDIRECT_URL = "login"
ACCOUNT_SESSION_REMEMBER = False
MFA_ADAPTER = "apps.identity.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_FORMS = {"add_webauthn": "apps.identity.forms.AddPasskeyForm"}  # a translated label
MFA_TOTP_ISSUER = "Heatsite"
MFA_TOTP_TOLERANCE = 1  # the code before and after the current one: phones' clocks drift
MFA_RECOVERY_CODE_COUNT = 10
MFA_PASSKEY_LOGIN_ENABLED = False  # a passkey is a second factor after the password
# Changing factors asks for a recent *second factor* (apps.identity.dangerous, ID-SESS's
# re-authentication), not allauth's own password prompt on top of it.
MFA_REAUTHENTICATION_REQUIRED = False
# Browsers allow WebAuthn on http://localhost only; production runs on https.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
# Roles that must enrol a second factor before anything else works (apps.identity.factors).
HEATSITE_MFA_REQUIRED_ROLES = env_list("HEATSITE_MFA_REQUIRED_ROLES", "engineer,admin")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
USE_I18N = True
# English stays the default; a user's own choice (accounts.User.language) beats Accept-Language.
LANGUAGES = [("en-gb", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Our own date formats per language (heatsite/formats/<locale>/formats.py): ISO-like in English
# as before, dd/mm/yyyy and 24-hour times in French.
FORMAT_MODULE_PATH = ["heatsite.formats"]
LANGUAGE_COOKIE_NAME = "heatsite_language"
USE_TZ = True
# Storage is always UTC; this is only the fallback display zone for pages without a site.
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Paris")

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
# ServeStatic (WhiteNoise for ASGI) serves the vendored assets from the ASGI server itself,
# asynchronously: sites have no CDN and no separate web server for static files.
SERVESTATIC_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

if env_bool("CHANNELS_IN_MEMORY", False):
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 30},
        }
    }

# The shared cache (decision 23): sign-in lockout counts, allauth's rate limits and its
# single-use TOTP codes must be the same for every process (web, API, admin), so it is Redis
# (CACHE_URL, default REDIS_URL; keys prefixed "heatsite"). "locmem://" is a per-process cache
# for the test suite only: `manage.py check` refuses it when DEBUG is off (apps.identity.checks).
CACHE_URL = os.environ.get("CACHE_URL", REDIS_URL)
if CACHE_URL.startswith("locmem://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "heatsite",
        }
    }

# Lockout (apps.identity.lockout): failures per username / per address within the window (s).
HEATSITE_LOCKOUT_WINDOW = int(os.environ.get("HEATSITE_LOCKOUT_WINDOW", "900"))
HEATSITE_LOCKOUT_USER_LIMIT = int(os.environ.get("HEATSITE_LOCKOUT_USER_LIMIT", "5"))
HEATSITE_LOCKOUT_IP_LIMIT = int(os.environ.get("HEATSITE_LOCKOUT_IP_LIMIT", "20"))
# Dangerous acts need a second factor used within this many seconds (apps.identity.recent).
HEATSITE_REAUTH_SECONDS = int(os.environ.get("HEATSITE_REAUTH_SECONDS", "300"))
# Session limits per role, seconds: idle (no request) and absolute (since login)
# (apps.identity.session_limits). JSON {"role": [idle, absolute]} overrides some or all.
HEATSITE_SESSION_LIMITS = {
    "engineer": (30 * 60, 12 * 3600),
    "admin": (30 * 60, 12 * 3600),
    "partner": (8 * 3600, 7 * 24 * 3600),
    "planner": (8 * 3600, 7 * 24 * 3600),
}
HEATSITE_SESSION_LIMITS.update(
    (role, tuple(limits))
    for role, limits in json.loads(os.environ.get("HEATSITE_SESSION_LIMITS") or "{}").items()
)
# The browser cookie never outlives the longest absolute limit (Django's default: two weeks).
SESSION_COOKIE_AGE = max(absolute for _idle, absolute in HEATSITE_SESSION_LIMITS.values())
# allauth's session list ("my sessions") keeps each session's last address and time.
USERSESSIONS_TRACK_ACTIVITY = True

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}

# Site gateways (apps.gateways, docs/decisions.md 26): a site with an enrolled gateway has its
# hardware calls sent to the gateway's RabbitMQ queue; without one, they run here as before.
# GATEWAY_BROKER_URL is the RabbitMQ the central side uses for them (central workers must
# consume its "central.results" queue); GATEWAY_BROKER_PUBLIC_URL what a gateway is told to
# connect to (amqps:// with TLS in production; no user or password: enrolment adds its own).
GATEWAY_BROKER_URL = os.environ.get("GATEWAY_BROKER_URL", CELERY_BROKER_URL)
GATEWAY_BROKER_PUBLIC_URL = os.environ.get("GATEWAY_BROKER_PUBLIC_URL", "")
GATEWAY_RABBITMQCTL = os.environ.get("GATEWAY_RABBITMQCTL", "rabbitmqctl")
# A power action sent to a gateway fails with "site gateway offline" when no answer came within
# GATEWAY_POWER_DEADLINE s; the gateway does not start it later than GATEWAY_START_MARGIN s
# before that deadline (the time a power action may take at the BMC).
GATEWAY_POWER_DEADLINE = float(os.environ.get("GATEWAY_POWER_DEADLINE", "300"))
GATEWAY_START_MARGIN = float(os.environ.get("GATEWAY_START_MARGIN", "60"))
# A TPM quote or enrolment step through a gateway: its nodes are recorded unreachable ("site
# gateway offline") if it has not answered within GATEWAY_QUOTE_DEADLINE s.
GATEWAY_QUOTE_DEADLINE = float(os.environ.get("GATEWAY_QUOTE_DEADLINE", "180"))
# A firmware update's Redfish call through a gateway (inventory, send, task poll): answered
# within GATEWAY_FIRMWARE_DEADLINE s or the update fails "site gateway offline" (a send must
# start 6 minutes before it: an upload may take 5).
GATEWAY_FIRMWARE_DEADLINE = float(os.environ.get("GATEWAY_FIRMWARE_DEADLINE", "900"))
GATEWAY_EXPIRE_INTERVAL = float(os.environ.get("GATEWAY_EXPIRE_INTERVAL", "30"))
# A gateway without a heartbeat for this long shows "site gateway offline" (apps.gateways).
GATEWAY_OFFLINE_AFTER = float(os.environ.get("GATEWAY_OFFLINE_AFTER", "120"))

# Poll intervals, seconds (beat schedule lives in heatsite/celery.py).
BMC_POLL_INTERVAL = float(os.environ.get("BMC_POLL_INTERVAL", "30"))
METER_POLL_INTERVAL = float(os.environ.get("METER_POLL_INTERVAL", "10"))
ATTESTATION_INTERVAL = float(os.environ.get("ATTESTATION_INTERVAL", "300"))
# The BMC log check (newest entries, chassis intrusions) of every node whose log was read.
BMC_LOG_INTERVAL = float(os.environ.get("BMC_LOG_INTERVAL", "600"))
# Seconds one BMC call may take before it is reported as a timeout.
BMC_TIMEOUT = float(os.environ.get("BMC_TIMEOUT", "5"))
# Nodes per sweep task, and BMCs polled at once per worker and per site.
BMC_SWEEP_BATCH = int(os.environ.get("BMC_SWEEP_BATCH", "500"))
BMC_SWEEP_CONCURRENCY = int(os.environ.get("BMC_SWEEP_CONCURRENCY", "64"))
BMC_SWEEP_PER_SITE = int(os.environ.get("BMC_SWEEP_PER_SITE", "8"))
# Seconds a BMC password rotation holds its node (longer than any run); a run killed with its
# lease held is resumed once the lease lapses (apps.hardware.rotation).
BMC_ROTATION_LEASE = float(os.environ.get("BMC_ROTATION_LEASE", "300"))

# Firmware updates (apps.firmware): where uploaded images are kept (never served as files), the
# largest accepted, the signed one-time URL a BMC fetches an image from (its lifetime, seconds,
# and the base the BMC reaches Heatsite at; empty: the requesting page's own address, else
# http://127.0.0.1:8000), minutes without task progress before an update counts as stuck, minutes
# a BMC may stay silent or forget its task before the version is read back instead, minutes
# after the reset within which the version must read back as the target, the longest
# wait between two polls (a BMC's Retry-After is bounded by it), and how quiet an active update
# must be before the resume sweep (every FIRMWARE_RESUME_INTERVAL s) hands it to a worker again.
FIRMWARE_IMAGE_ROOT = Path(
    os.environ.get("FIRMWARE_IMAGE_ROOT", "") or str(BASE_DIR / "var" / "firmware")
)
FIRMWARE_IMAGE_MAX_BYTES = int(os.environ.get("FIRMWARE_IMAGE_MAX_BYTES", str(64 * 1024 * 1024)))
FIRMWARE_IMAGE_URL_TTL = int(os.environ.get("FIRMWARE_IMAGE_URL_TTL", "1800"))
FIRMWARE_IMAGE_BASE_URL = os.environ.get("FIRMWARE_IMAGE_BASE_URL", "")
FIRMWARE_STUCK_MINUTES = float(os.environ.get("FIRMWARE_STUCK_MINUTES", "15"))
FIRMWARE_LOST_MINUTES = float(os.environ.get("FIRMWARE_LOST_MINUTES", "10"))
FIRMWARE_VERIFY_MINUTES = float(os.environ.get("FIRMWARE_VERIFY_MINUTES", "5"))
FIRMWARE_POLL_MAX = float(os.environ.get("FIRMWARE_POLL_MAX", "60"))
FIRMWARE_RESUME_AFTER = float(os.environ.get("FIRMWARE_RESUME_AFTER", "300"))
FIRMWARE_RESUME_INTERVAL = float(os.environ.get("FIRMWARE_RESUME_INTERVAL", "120"))
# Campaign executor (apps.firmware.campaign_run): the beat hands every live campaign to a worker
# every CAMPAIGN_ADVANCE_INTERVAL s; a running campaign no round touched for
# CAMPAIGN_STALLED_SECONDS is shown stalled (its worker is gone), never silently "running".
CAMPAIGN_ADVANCE_INTERVAL = float(os.environ.get("CAMPAIGN_ADVANCE_INTERVAL", "15"))
CAMPAIGN_STALLED_SECONDS = float(os.environ.get("CAMPAIGN_STALLED_SECONDS", "300"))
# Trusted firmware release keys, {key id: public key PEM} (Ed25519 or ECDSA P-256): a bundle is
# accepted only when one of them signed its manifest. Several may be valid at once (rotation); a
# key removed here is refused from then on. FIRMWARE_RELEASE_KEYS is that JSON object; unset in
# development (DEBUG), the lab's demo key (apps/lab/demo_keys/, never for production) is trusted.
_LAB_DEMO_RELEASE_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAecivSlMUOLeo56PdvY+Q+BuMiZ2LXp27JsDcLR9WFZo=\n"
    "-----END PUBLIC KEY-----\n"
)
if os.environ.get("FIRMWARE_RELEASE_KEYS"):
    FIRMWARE_RELEASE_KEYS: dict[str, str] = json.loads(os.environ["FIRMWARE_RELEASE_KEYS"])
    if not isinstance(FIRMWARE_RELEASE_KEYS, dict):
        raise ImproperlyConfigured("FIRMWARE_RELEASE_KEYS must be a JSON object {key id: PEM}.")
else:
    FIRMWARE_RELEASE_KEYS = {"heatsite-lab-demo": _LAB_DEMO_RELEASE_KEY} if DEBUG else {}

# Attestation: a node whose last successful check is older than this shows "stale" (a dead
# verifier never leaves a green badge); nodes per sweep task and quotes in flight; seconds per
# agent call; PEM files of EK certificate issuers (empty: certificates are parsed, not chained).
# Unset: 3 x ATTESTATION_INTERVAL.
ATTESTATION_STALE_AFTER = (
    float(os.environ["ATTESTATION_STALE_AFTER"])
    if os.environ.get("ATTESTATION_STALE_AFTER")
    else None
)
ATTESTATION_SWEEP_BATCH = int(os.environ.get("ATTESTATION_SWEEP_BATCH", "500"))
ATTESTATION_SWEEP_CONCURRENCY = int(os.environ.get("ATTESTATION_SWEEP_CONCURRENCY", "16"))
ATTESTATION_AGENT_TIMEOUT = float(os.environ.get("ATTESTATION_AGENT_TIMEOUT", "10"))
ATTESTATION_EK_CA_FILES = env_list("ATTESTATION_EK_CA_FILES", "")

# Serial consoles: idle consoles free their BMC session after this many seconds; recordings.
CONSOLE_IDLE_TIMEOUT = float(os.environ.get("CONSOLE_IDLE_TIMEOUT", "600"))
CONSOLE_LOG_DIR = Path(os.environ.get("CONSOLE_LOG_DIR", str(BASE_DIR / "var" / "console")))

# Electrical energy: a node unseen for longer than this is a gap, not consumption (s).
# Unset: 3 x BMC_POLL_INTERVAL.
ELECTRICAL_MAX_GAP_S = (
    float(os.environ["ELECTRICAL_MAX_GAP_S"]) if os.environ.get("ELECTRICAL_MAX_GAP_S") else None
)

# Heat meters: meters per poll task, seconds per Modbus read.
METER_SWEEP_BATCH = int(os.environ.get("METER_SWEEP_BATCH", "200"))
METER_TIMEOUT = float(os.environ.get("METER_TIMEOUT", "3"))
# Heat alarms: supply below contract for this long, meter silent for this long, output
# dropping by this fraction (and at least this many kW) against the previous hour.
HEAT_ALARM_BELOW_CONTRACT_S = int(os.environ.get("HEAT_ALARM_BELOW_CONTRACT_S", "900"))
HEAT_ALARM_OFFLINE_S = int(os.environ.get("HEAT_ALARM_OFFLINE_S", "300"))
HEAT_ALARM_DROP_FRACTION = float(os.environ.get("HEAT_ALARM_DROP_FRACTION", "0.5"))
HEAT_ALARM_DROP_MIN_KW = float(os.environ.get("HEAT_ALARM_DROP_MIN_KW", "5"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API call gets 401 with `WWW-Authenticate: Token`.
        "apps.tokens.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        # A token needs read to read and write to change; operate actions: apps.accounts.access.
        "apps.tokens.auth.TokenScope",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Heatsite API",
    "DESCRIPTION": "Sites, nodes, heat meters, power and attestation of heat-reuse edge sites.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files: sites are offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status": name each set of choices after its owner.
    "ENUM_NAME_OVERRIDES": {
        "SiteStatusEnum": "apps.sites.models.Site.Status",
        "NodeStatusEnum": "apps.sites.models.Node.Status",
        "PowerActionStatusEnum": "apps.hardware.models.PowerAction.Status",
        "QueuedStatusEnum": ["queued"],
        "GatewayStatusEnum": "apps.gateways.models.Gateway.Status",
    },
}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "heatsite@localhost")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
# Where links in e-mails point (the console's public address).
HEATSITE_BASE_URL = os.environ.get("HEATSITE_BASE_URL", "http://127.0.0.1:8000/")
# The monthly statement e-mail: how often the beat looks for a settled month to send, how many
# times a failed message is tried, and after how long a claimed message that never reported
# back shows as "unknown" to admins (seconds).
STATEMENT_MAIL_INTERVAL = int(os.environ.get("STATEMENT_MAIL_INTERVAL", "3600"))
STATEMENT_MAIL_ATTEMPTS = int(os.environ.get("STATEMENT_MAIL_ATTEMPTS", "3"))
STATEMENT_MAIL_STUCK = int(os.environ.get("STATEMENT_MAIL_STUCK", "900"))
# Who may scrape /metrics (the monitoring network); the reverse proxy never forwards it.
METRICS_ALLOWED_NETS = env_list("METRICS_ALLOWED_NETS", "127.0.0.1/32,::1/128")
# Worker heartbeats (apps.ops.liveness): a worker silent for WORKER_HEARTBEAT_TTL s is dead, and
# every POWER_RECOVER_INTERVAL s its power actions go back to the queue (apps.hardware.recovery):
# a SIGKILLed worker's action is re-run or failed within about TTL + interval, on any broker.
WORKER_HEARTBEAT_SECONDS = float(os.environ.get("WORKER_HEARTBEAT_SECONDS", "5"))
WORKER_HEARTBEAT_TTL = int(os.environ.get("WORKER_HEARTBEAT_TTL", "15"))
POWER_RECOVER_INTERVAL = float(os.environ.get("POWER_RECOVER_INTERVAL", "10"))

# Browser hardening (decision 25). apps.core.security sets the Content-Security-Policy (with a
# nonce per request), Permissions-Policy and CORP; Django's SecurityMiddleware the rest. HTTPS
# (default: whenever DEBUG is off) means the console is served over TLS: plain HTTP is
# redirected, HSTS is sent, and the cookies are Secure with the __Host- prefix (this exact
# host, path /, never readable by scripts or sent cross-site). Behind a TLS-terminating proxy
# that sets X-Forwarded-Proto (and drops the client's), set TRUST_X_FORWARDED_PROTO=1.
HTTPS = env_bool("HTTPS", not DEBUG)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = env_list("SECURE_REDIRECT_EXEMPT", "")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000")) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
HEATSITE_CSP_UPGRADE_INSECURE = HTTPS
SESSION_COOKIE_NAME = "__Host-sessionid" if HTTPS else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if HTTPS else "csrftoken"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
# The language choice kept for after logout (apps.accounts): same flags, no prefix needed.
LANGUAGE_COOKIE_SECURE = HTTPS
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "apps.core.logging.RedactSecretsFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # 403/404 are answers, not incidents: keep them out of the error log.
        "django.request": {"level": "ERROR"},
        "pyghmi": {"level": "WARNING"},
        "pymodbus": {"level": "WARNING"},
    },
}
