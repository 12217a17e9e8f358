"""RabbitMQ for the gateway tests: a vhost of our own and two gateway users (A and B), made once
per session (``rabbitmqctl`` takes seconds per call on a busy machine) and deleted after."""

import dataclasses
import os
import secrets
import shutil
import socket
import subprocess
import tomllib
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest

from apps.gateways import crypto
from apps.gateways import rabbit as rabbitmq
from apps.gateways.models import Gateway, GatewaySite

RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672


def _ctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["rabbitmqctl", "--quiet", *args], capture_output=True, text=True, timeout=60, check=False
    )


def _rabbit_missing() -> str:
    if shutil.which("rabbitmqctl") is None:
        return "rabbitmqctl is not installed"
    try:
        socket.create_connection((RABBIT_HOST, RABBIT_PORT), timeout=5).close()
    except OSError as error:
        return f"RabbitMQ does not answer on {RABBIT_HOST}:{RABBIT_PORT} ({error})"
    return ""


@dataclasses.dataclass(frozen=True)
class TestGateway:
    name: str
    keys: crypto.GatewayKeys
    broker_url: str  # as its own restricted user

    def row(self, *sites) -> Gateway:
        gateway = Gateway.objects.create(
            name=self.name,
            box_public_key=self.keys.box_public,
            signing_public_key=self.keys.signing_public,
        )
        GatewaySite.objects.bulk_create([GatewaySite(site=s, gateway=gateway) for s in sites])
        return gateway


@dataclasses.dataclass(frozen=True)
class Rabbit:
    url: str  # guest, full rights on the vhost (the central side)
    vhost: str
    a: TestGateway
    b: TestGateway


def unique_name(prefix: str) -> str:
    """RabbitMQ users are global to the broker: names unique to this run."""
    return f"t{uuid.uuid4().hex[:6]}-{prefix}"


@pytest.fixture(scope="session")
def rabbit():
    missing = _rabbit_missing()
    if missing:
        pytest.skip(f"needs RabbitMQ: {missing}")
    vhost = f"heatsite-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    assert _ctl("add_vhost", vhost).returncode == 0
    base = f"amqp://{{}}@{RABBIT_HOST}:{RABBIT_PORT}/{vhost}"
    gateways = {}

    def make(prefix: str) -> TestGateway:
        name, password = unique_name(prefix), secrets.token_urlsafe(16)
        rabbitmq.user_create(name, password, on_vhost=vhost)
        auth = f"{quote(f'gw-{name}')}:{quote(password, safe='')}"
        return TestGateway(name, crypto.keys_generate(), base.format(auth))

    try:
        with ThreadPoolExecutor(3) as pool:
            guest = pool.submit(_ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
            gateways = dict(zip("ab", pool.map(make, "ab"), strict=True))
            assert guest.result().returncode == 0
        yield Rabbit(base.format("guest:guest"), vhost, gateways["a"], gateways["b"])
    finally:
        with ThreadPoolExecutor(3) as pool:
            pool.submit(_ctl, "delete_vhost", vhost)
            for gateway in gateways.values():
                pool.submit(_ctl, "delete_user", f"gw-{gateway.name}")


@pytest.fixture
def gateway_settings(settings, rabbit):
    settings.GATEWAY_BROKER_URL = rabbit.url
    settings.GATEWAY_BROKER_PUBLIC_URL = ""
    return settings


def broker_url_of(enrolment) -> str:
    return tomllib.loads(enrolment.config)["broker_url"]
