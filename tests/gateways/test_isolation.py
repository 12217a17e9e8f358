"""Each gateway's RabbitMQ user reaches its own queue and the central results exchange only;
what is sent to a gateway carries its own sites' credentials only, sealed to its key."""

import json

import amqp.exceptions
import pytest
from kombu import Connection, Exchange, Producer, Queue

from apps.audit.models import AuditEvent
from apps.gateways import crypto, dispatch, services, wire
from apps.gateways.models import Gateway, GatewayCall
from apps.hardware import services as hardware
from apps.hardware.models import PowerAction
from tests.factories import NodeFactory, SiteFactory
from tests.gateways.conftest import broker_url_of, unique_name

pytestmark = pytest.mark.django_db
REFUSED = pytest.raises(amqp.exceptions.AccessRefused, match="ACCESS_REFUSED")


@pytest.fixture
def queues(gateway_settings, rabbit):
    """Both gateways' queues exist (the central side declares them when it sends) and are
    empty again after the test."""
    dispatch.results_declare()
    with Connection(rabbit.url) as conn:
        for gateway in (rabbit.a, rabbit.b):
            dispatch.gateway_queue(gateway.name).bind(conn.default_channel).declare()
    yield rabbit
    with Connection(rabbit.url) as conn:
        for gateway in (rabbit.a, rabbit.b):
            dispatch.gateway_queue(gateway.name).bind(conn.default_channel).purge()


def _confirmed(url: str) -> Connection:
    # publisher confirms: a refused publish raises here instead of closing the channel later
    return Connection(url, transport_options={"confirm_publish": True}, connect_timeout=10)


def test_a_gateways_user_cannot_consume_from_another_gateways_queue(queues):
    a, b = queues.a, queues.b
    with _confirmed(a.broker_url) as conn, REFUSED:
        conn.channel().basic_consume(queue=f"gw.{b.name}", callback=lambda m: None)
    with _confirmed(a.broker_url) as conn, REFUSED:
        conn.channel().basic_get(queue=f"gw.{b.name}")
    with _confirmed(a.broker_url) as conn:  # its own queue: allowed (and empty)
        assert conn.channel().basic_get(queue=f"gw.{a.name}") is None


@pytest.mark.parametrize("route", ["its exchange", "the default exchange"])
def test_a_gateways_user_cannot_publish_to_another_gateways_queue(queues, route):
    a, b = queues.a, queues.b
    target = f"gw.{b.name}"
    exchange = Exchange(target, "direct") if route == "its exchange" else Exchange("")
    with _confirmed(a.broker_url) as conn, REFUSED:
        Producer(conn.channel(), exchange=exchange, auto_declare=False).publish(
            {"forged": True}, routing_key=target
        )


def test_a_gateways_user_publishes_to_the_results_exchange_but_reads_no_answers(queues):
    a = queues.a
    with _confirmed(a.broker_url) as conn:
        Producer(
            conn.channel(), exchange=Exchange(wire.RESULTS_EXCHANGE, "direct"), auto_declare=False
        ).publish({"ok": True}, routing_key=wire.RESULTS_QUEUE)
    with _confirmed(a.broker_url) as conn, REFUSED:
        conn.channel().basic_get(queue=wire.RESULTS_QUEUE)
    with _confirmed(a.broker_url) as conn, REFUSED:
        # nor a queue of its own bound to the answers (or to anything else)
        Queue("stolen", Exchange(wire.RESULTS_EXCHANGE, "direct")).bind(conn.channel()).declare()
    with Connection(queues.url) as conn:
        dispatch.RESULTS.bind(conn.default_channel).purge()


def _drain(url: str, queue: str) -> list[dict]:
    bodies = []
    with Connection(url) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue=queue, no_ack=True)) is not None:
            bodies.append(json.loads(message.body))
    return bodies


@pytest.mark.django_db(transaction=True)
def test_a_gateway_receives_only_its_own_sites_credentials_sealed_to_its_key(
    queues, engineer, monkeypatch
):
    from apps.hardware.tasks import power_execute_task

    a, b = queues.a, queues.b
    site_a, site_b = SiteFactory(), SiteFactory()
    a.row(site_a), b.row(site_b)
    node_a = NodeFactory(site=site_a, bmc_host="10.1.0.1", bmc_password="alpha-secret-1")
    node_b = NodeFactory(site=site_b, bmc_host="10.2.0.1", bmc_password="bravo-secret-2")
    monkeypatch.setattr(power_execute_task, "delay", hardware.power_execute)
    for node in (node_a, node_b):
        action = hardware.power_request(actor=engineer, node=node, kind="off")
        assert PowerAction.objects.get(pk=action.pk).status == "running"

    received = _drain(a.broker_url, f"gw.{a.name}")  # as gateway A's own user
    assert len(received) == 1
    raw = json.dumps(received)
    assert "alpha-secret-1" not in raw and "bravo-secret-2" not in raw  # nothing in clear
    args, _kwargs, _embed = received[0]
    (call,) = args
    secret = crypto.unseal(a.keys, call["sealed"], aad=f"{a.name}:{call['call_id']}")
    assert secret["endpoint"]["host"] == "10.1.0.1"
    assert secret["endpoint"]["password"] == "alpha-secret-1"
    assert GatewayCall.objects.get(pk=call["call_id"]).action.node == node_a
    with pytest.raises(crypto.SealError):  # B's key does not open it
        crypto.unseal(b.keys, call["sealed"], aad=f"{a.name}:{call['call_id']}")
    (call_b,) = _drain(queues.url, f"gw.{b.name}")[0][0]
    assert (
        crypto.unseal(b.keys, call_b["sealed"], aad=f"{b.name}:{call_b['call_id']}")["endpoint"][
            "password"
        ]
        == "bravo-secret-2"
    )


def test_enrolment_makes_a_restricted_user_and_revoking_deletes_it_audited(gateway_settings):
    site = SiteFactory(code="gw-enrol-site")
    enrolment = services.gateway_enrol(actor=None, name=unique_name("e"), sites=[site])
    gateway = enrolment.gateway
    url = broker_url_of(enrolment)
    keys = json.loads(enrolment.private_keys)
    assert set(keys) == {"x25519", "ed25519"}
    assert services.gateway_for_site(site.pk) == gateway
    with Connection(url, connect_timeout=10) as conn:
        conn.connect()  # its user exists and may log in to the vhost

    services.gateway_revoke(actor=None, gateway=gateway)
    gateway.refresh_from_db()
    assert gateway.status == Gateway.Status.REVOKED and gateway.revoked_at is not None
    assert services.gateway_for_site(site.pk) is None  # reached directly again
    with pytest.raises(amqp.exceptions.AccessRefused), Connection(url, connect_timeout=10) as conn:
        conn.connect()
    events = AuditEvent.objects.filter(target_id=str(gateway.pk)).order_by("id")
    assert [(e.action, e.result) for e in events] == [
        ("gateway.enrol", "ok"),
        ("gateway.revoke", "ok"),
    ]
    assert events[0].detail["sites"] == ["gw-enrol-site"]
    password = url.split(":")[2].split("@")[0]
    assert password not in json.dumps([e.detail for e in events])
    assert keys["x25519"] not in json.dumps([e.detail for e in events])


def test_enrolment_refuses_a_site_that_already_has_a_gateway(gateway_settings, rabbit):
    site = SiteFactory()
    rabbit.a.row(site)
    with pytest.raises(services.GatewayError, match="already served"):
        services.gateway_enrol(actor=None, name=unique_name("x"), sites=[site])
    with pytest.raises(services.GatewayError, match="lower-case"):
        services.gateway_enrol(actor=None, name="Bad Name!", sites=[])
