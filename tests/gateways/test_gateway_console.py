"""Serial consoles of gatewayed sites: the SOL session is opened by the site's gateway (a separate
process on its own restricted RabbitMQ user), never by the central console broker; an offline
gateway says so; another gateway cannot read a console's traffic."""

import os
import tempfile
from pathlib import Path

import amqp.exceptions
import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from kombu import Connection, Exchange, Queue

from apps.audit.models import AuditEvent
from apps.gateways import crypto, dispatch, wire
from apps.gateways.agent_console import console_queue, stream_aad, stream_seal
from apps.gateways.console import ConsoleRelay, GatewaySolLink
from apps.lab.bmc import LabBmcServer
from tests.console import conftest as console_fixtures
from tests.factories import NodeFactory, SiteFactory
from tests.gateways.test_gateway_processes import GatewayProcess

# the console tests' fixtures: settings (autouse), the broker in the test's loop, viewers
console_settings = console_fixtures.console_settings
broker = console_fixtures.broker
viewers = console_fixtures.viewers
BANNER = "serial console (type 'help')"
REFUSED = pytest.raises(amqp.exceptions.AccessRefused, match="ACCESS_REFUSED")


def udp_ports(pid: int | str) -> set[int]:
    """The local ports of the UDP sockets process ``pid`` holds (from /proc)."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("udp", "udp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.fixture(scope="module")
def lab():
    with LabBmcServer(count=3) as server:
        yield server


@pytest.fixture(scope="module")
def gateway_a(rabbit):
    with tempfile.TemporaryDirectory(prefix="heatsite-gwc-") as tmp:
        process = GatewayProcess(rabbit.a, Path(tmp, "a"))
        with Connection(rabbit.url) as conn:  # as enrolment does, before any gateway runs
            dispatch.RESULTS.bind(conn.default_channel).declare()
        try:
            process.start()
            yield process
        finally:
            process.stop()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_gatewayed_nodes_console_is_opened_by_its_gateway(
    gateway_a, rabbit, lab, gateway_settings, broker, viewers, engineer
):
    site = await sync_to_async(SiteFactory)()
    gateway = await sync_to_async(rabbit.a.row)(site)
    gateway.last_contact_at = timezone.now()
    await sync_to_async(gateway.save)()
    node = await sync_to_async(NodeFactory)(
        site=site, name="lab-node-001", bmc_host="127.0.0.1", bmc_port=lab.port(0)
    )

    viewer = await viewers(engineer, node.pk)
    await viewer.until(lambda v: BANNER in v.text)
    await viewer.until_state("connected")
    await viewer.type("uname\r")
    await viewer.until(lambda v: "Linux lab-node-001 6.1.0-heatsite-lab" in v.text)
    await viewer.type("echo through-the-gateway\r")
    await viewer.until(lambda v: "\r\nthrough-the-gateway\r\n" in v.text)

    # the BMC's one SOL session comes from the gateway process's socket, not from ours
    sol = lab.bmc(0).sol
    assert sol is not None and len(lab.bmc(0).sessions) == 1
    peer_port = sol.sockaddr[1]
    assert peer_port in udp_ports(gateway_a.proc.pid)
    assert peer_port not in udp_ports("self")
    opened = await sync_to_async(
        lambda: list(AuditEvent.objects.filter(action="console.gateway_open").values("detail"))
    )()
    assert [e["detail"]["gateway"] for e in opened] == [rabbit.a.name]
    # the session is probed through the gateway too (the power state is read there)
    await viewer.until(lambda v: (v.last("status") or {}).get("power") == "on")
    lab.bmc(0).set_power("off")  # powered off: the gateway's probe tells, the console says so
    status = await viewer.until_state("off")
    assert status["reason"] == "The node is powered off."
    lab.bmc(0).set_power("on")
    await viewer.until_state("connected")

    lab.bmc(0).faults.unreachable = True  # the BMC, not the gateway, stops answering
    lost = await viewer.until_state("lost")
    assert "Reconnecting" in lost["reason"] and "gateway" not in lost["reason"]
    lab.bmc(0).faults.unreachable = False
    await viewer.until_state("connected")
    await viewer.type("echo back-again\r")
    await viewer.until(lambda v: "\r\nback-again\r\n" in v.text)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_revoked_gateways_console_ends(
    gateway_a, rabbit, lab, gateway_settings, broker, viewers, engineer, monkeypatch
):
    from apps.gateways import console
    from apps.gateways.models import Gateway

    monkeypatch.setattr(console, "REVOCATION_RECHECK", 0.0)  # checked at every probe
    site = await sync_to_async(SiteFactory)()
    gateway = await sync_to_async(rabbit.a.row)(site)
    gateway.last_contact_at = timezone.now()
    await sync_to_async(gateway.save)()
    node = await sync_to_async(NodeFactory)(
        site=site, name="lab-node-003", bmc_host="127.0.0.1", bmc_port=lab.port(2)
    )
    viewer = await viewers(engineer, node.pk)
    await viewer.until(lambda v: BANNER in v.text)

    # revoked (its RabbitMQ user is kept here: other tests share it)
    await sync_to_async(Gateway.objects.filter(pk=gateway.pk).update)(status="revoked")
    status = await viewer.until_state("failed")
    assert status["reason"] == f"Site gateway refused: {rabbit.a.name} was revoked."


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_offline_gateway_says_site_gateway_offline(lab, broker, viewers, engineer):
    site = await sync_to_async(SiteFactory)()
    keys = crypto.keys_generate()

    def enrol():
        from apps.gateways.models import Gateway, GatewaySite

        gateway = Gateway.objects.create(
            name="never-heard",
            box_public_key=keys.box_public,
            signing_public_key=keys.signing_public,
        )
        GatewaySite.objects.create(site=site, gateway=gateway)

    await sync_to_async(enrol)()
    node = await sync_to_async(NodeFactory)(site=site, bmc_host="127.0.0.1", bmc_port=lab.port(1))
    viewer = await viewers(engineer, node.pk)
    status = await viewer.until_state("gateway_offline")
    assert status["reason"].startswith("Site gateway offline: never-heard")
    assert "BMC" not in status["reason"]  # not "BMC unreachable": the BMC was never asked
    assert not lab.bmc(1).sessions


def test_another_gateway_cannot_receive_a_gateways_console_traffic(rabbit):
    a, b = rabbit.a, rabbit.b
    with Connection(rabbit.url) as conn:  # as the central side declares it before sending
        console_queue(a.name).bind(conn.default_channel).declare()
    with Connection(b.broker_url) as conn, REFUSED:
        conn.channel().basic_get(queue=wire.console_queue_name(a.name))
    with Connection(b.broker_url) as conn, REFUSED:
        conn.channel().basic_consume(queue=wire.console_queue_name(a.name), callback=print)
    with Connection(b.broker_url) as conn, REFUSED:
        # nor a queue of its own bound to A's exchange (it may not read that exchange)
        Queue(
            wire.console_queue_name(b.name),
            Exchange(wire.queue_name(a.name), "direct"),
            routing_key=wire.console_queue_name(a.name),
            durable=False,
        ).bind(conn.channel()).declare()
    with Connection(b.broker_url) as conn:  # its own console queue: allowed
        console_queue(b.name).bind(conn.channel()).declare()
    with Connection(a.broker_url) as conn:
        assert conn.channel().basic_get(queue=wire.console_queue_name(a.name)) is None


def test_a_gateways_permissions_match_its_own_queues_only():
    import re

    configure, write, read = wire.permissions("a")
    for pattern in (configure, write, read):
        for own in ("gw.a", "gw.a.console"):
            assert re.match(pattern, own)
        for other in ("gw.a-b", "gw.a-b.console", "gw.ab.console", "gw.a.console.x", "gw.b"):
            assert not re.match(pattern, other)
    assert re.match(write, wire.RESULTS_EXCHANGE) and not re.match(read, wire.RESULTS_EXCHANGE)


class _Target:
    def __init__(self, gateway):
        self.node_id, self.gateway = 0, gateway


@pytest.mark.django_db
def test_console_bytes_signed_by_another_gateway_are_refused(rabbit):
    a, b = rabbit.a, rabbit.b
    relay = ConsoleRelay.__new__(ConsoleRelay)
    relay.links = {}
    seen = []
    gateway = type("G", (), {"name": a.name, "signing_public_key": a.keys.signing_public})
    link = GatewaySolLink(
        _Target(gateway), on_data=seen.append, on_error=seen.append, pool=None, timeout=1
    )
    relay.links[link.session] = link

    def message(signer, name, seq, data):
        payload = {
            "seq": seq,
            **stream_seal(link.key, data, aad=stream_aad(a.name, link.session, "out", seq)),
        }
        document = wire.envelope(
            gateway=name, kind="console_output", call_id=link.session, payload=payload, version="t"
        )
        return {"document": document, "signature": crypto.sign(signer, document)}

    assert relay.receive(message(b.keys, b.name, 1, b"forged")) == "refused"
    assert relay.receive(message(b.keys, a.name, 1, b"forged")) == "refused"
    assert relay.receive(message(a.keys, a.name, 1, b"genuine")) == "ok"
    assert relay.receive(message(a.keys, a.name, 1, b"replayed")) == "ok"  # taken, not shown
    assert seen == [b"genuine"]
    assert AuditEvent.objects.filter(action="gateway.answer", result="refused").count() == 2


def test_a_gateway_failure_is_not_worded_as_the_bmcs():
    from apps.console.sol import classify

    assert classify("site gateway offline: gw-1 did not answer") == (
        "gateway_offline",
        "Site gateway offline: gw-1 did not answer.",
    )
    assert classify("site gateway refused: gw-1 was revoked") == (
        "failed",
        "Site gateway refused: gw-1 was revoked.",
    )
    # what the gateway reports of the BMC keeps the BMC's wording
    assert classify("timeout") == ("lost", "The BMC does not answer.")


@pytest.fixture(autouse=True, scope="module")
def _console_relay_stopped():
    """The process's console relay (started by these tests) ends with the module: its
    consumer must not go on retrying a test vhost deleted at the session's end."""
    yield
    ConsoleRelay.close_current()
