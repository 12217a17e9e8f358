"""Settings, credential encryption and rotation, secret redaction, audit, seed."""

import logging
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from apps.audit.models import AuditEvent
from apps.core import crypto
from apps.core.logging import RedactSecretsFilter
from apps.sites.models import HeatMeter, Node, Site
from apps.sites.services import credentials_rotate


def _settings_process(env):
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **{k: v for k, v in os.environ.items() if k not in env},
            **env,
            "DJANGO_SETTINGS_MODULE": "heatsite.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_secret_key_fails_loudly_when_debug_is_off():
    result = _settings_process({"DEBUG": "0", "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_debug_off_with_secrets_starts():
    key = Fernet.generate_key().decode()
    result = _settings_process({"DEBUG": "0", "SECRET_KEY": "x" * 50, "CREDENTIAL_KEYS": key})
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_rotation_reencrypts_under_the_new_key_and_old_key_can_then_go(settings, node):
    old_key = settings.CREDENTIAL_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIAL_KEYS = [new_key, old_key]
    assert credentials_rotate() == 1
    settings.CREDENTIAL_KEYS = [new_key]
    node.refresh_from_db()
    assert node.bmc_password == "password"
    assert AuditEvent.objects.filter(action="credentials.rotate").exists()


@pytest.mark.django_db
def test_rotate_credentials_command_reports_count(settings, node, capsys):
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode(), settings.CREDENTIAL_KEYS[0]]
    call_command("rotate_credentials")
    assert "1 BMC password" in capsys.readouterr().out


@pytest.mark.django_db
def test_undecryptable_credential_raises_a_clear_error(settings, node):
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.CredentialError):
        _ = node.bmc_password


def test_secrets_are_redacted_from_log_records():
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "login %s failed", ("password=hunter2 user=bob",), None
    )
    RedactSecretsFilter().filter(record)
    assert "hunter2" not in record.getMessage() and "user=bob" in record.getMessage()


@pytest.mark.django_db
def test_seed_demo_creates_the_fleet_and_prints_one_line_per_user(capsys):
    call_command("seed_demo", "--sites", "4", "--nodes-per-site", "3")
    out = capsys.readouterr().out.strip().splitlines()
    logins = [line.split()[:3] for line in out if not line.startswith("#")]
    assert {role for _, role, _ in logins} == {"engineer", "planner", "admin", "partner"}
    assert sum(1 for _, role, _ in logins if role == "partner") == 3
    assert (Site.objects.count(), Node.objects.count(), HeatMeter.objects.count()) == (4, 12, 4)
    assert Node.objects.first().bmc_password == "password"
    call_command("seed_demo", "--sites", "4", "--nodes-per-site", "3")  # idempotent
    assert Site.objects.count() == 4


@pytest.mark.django_db
def test_seed_demo_rejects_nonsense_sizes():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="must be >= 0"):
        call_command("seed_demo", "--sites", "-1")


@pytest.mark.django_db
def test_audit_record_masks_secrets_in_detail(engineer):
    from apps.audit.services import audit_record

    event = audit_record(
        actor=engineer, action="x.test", detail={"password": "p", "note": "token=abc123"}
    )
    assert event.detail == {"password": "***", "note": "token=***"}
