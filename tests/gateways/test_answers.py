"""The central side believes only signed answers of active gateways to their own calls, and a
call's deadline fails its action once, whatever arrives later (no broker needed here)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.gateways import crypto, power, results, services, wire
from apps.gateways.models import Gateway, GatewayCall, GatewaySite
from apps.hardware import services as hardware
from tests.factories import NodeFactory, SiteFactory

pytestmark = pytest.mark.django_db


def _gateway(name: str, *sites):
    keys = crypto.keys_generate()
    gateway = Gateway.objects.create(
        name=name, box_public_key=keys.box_public, signing_public_key=keys.signing_public
    )
    GatewaySite.objects.bulk_create([GatewaySite(site=s, gateway=gateway) for s in sites])
    return gateway, keys


@pytest.fixture
def sent(engineer):
    """An "off" on a node of site A, dispatched to gateway A (not sent: no commit here)."""
    site = SiteFactory()
    gateway, keys = _gateway("gw-a", site)
    node = NodeFactory(site=site, power_state="on")
    action = hardware.power_request(actor=engineer, node=node, kind="off")
    hardware.power_execute(action.pk)
    call = GatewayCall.objects.get(action=action)
    return gateway, keys, action, call


def _answer(keys, gateway_name: str, call_id: str, payload: dict, kind: str = "power"):
    document = wire.envelope(
        gateway=gateway_name, kind=kind, call_id=call_id, payload=payload, version="1.0"
    )
    return document, crypto.sign(keys, document)


OFF = {"ok": True, "changed": True, "outcome_state": "off", "state": "off"}


def test_a_gateway_site_action_is_dispatched_not_run_here(sent):
    gateway, _, action, call = sent
    action.refresh_from_db()
    assert (action.status, action.attempts) == ("running", 1)
    assert call.gateway == gateway and call.status == "sent"
    assert call.sent_at < call.start_by < call.deadline
    # a redelivered central task does not send it twice
    hardware.power_execute(action.pk)
    assert GatewayCall.objects.filter(action=action).count() == 1


def test_a_signed_answer_finishes_the_action_and_refreshes_the_gateways_contact(sent):
    gateway, keys, action, call = sent
    assert results.result_receive(*_answer(keys, "gw-a", str(call.pk), OFF)) == "finished"
    action.refresh_from_db()
    assert (action.status, action.result) == (
        "succeeded",
        "Power off (hard) sent; the node is now off.",
    )
    action.node.refresh_from_db()
    assert action.node.power_state == "off"
    gateway.refresh_from_db()
    assert gateway.last_contact_at is not None and gateway.version == "1.0"
    # the same answer again (a redelivery) changes nothing
    assert results.result_receive(*_answer(keys, "gw-a", str(call.pk), OFF)) == "duplicate"


def test_a_revoked_gateways_answer_is_refused(sent, settings):
    settings.GATEWAY_RABBITMQCTL = "/bin/false"  # the broker part may fail: revoked anyway
    gateway, keys, action, call = sent
    services.gateway_revoke(actor=None, gateway=gateway)
    action.refresh_from_db()  # with the gateway when it was revoked: ended, honestly worded
    assert (action.status, action.error_cause) == ("failed", "gateway_revoked")
    assert "may or may not have reached the BMC" in action.error
    assert results.result_receive(*_answer(keys, "gw-a", str(call.pk), OFF)) == "refused"
    refusal = AuditEvent.objects.filter(action="gateway.answer").get()
    assert (refusal.result, refusal.detail["reason"]) == ("refused", "gateway revoked")
    revoke = AuditEvent.objects.get(action="gateway.revoke")
    assert "broker_error" in revoke.detail and revoke.detail["calls_ended"] == 1


def test_a_forged_or_misaddressed_answer_is_refused(sent):
    _, keys, action, call = sent
    other_site = SiteFactory()
    _, other_keys = _gateway("gw-b", other_site)
    # signed with B's key but claiming to be A
    assert results.result_receive(*_answer(other_keys, "gw-a", str(call.pk), OFF)) == "refused"
    # altered after signing
    document, signature = _answer(keys, "gw-a", str(call.pk), OFF)
    document["payload"] = {**OFF, "state": "on"}
    assert results.result_receive(document, signature) == "refused"
    # B, correctly signed, answering A's call
    assert results.result_receive(*_answer(other_keys, "gw-b", str(call.pk), OFF)) == "refused"
    assert results.result_receive({"gateway": "nobody"}, "x") == "refused"
    action.refresh_from_db()
    assert action.status == "running"
    assert AuditEvent.objects.filter(action="gateway.answer", result="refused").count() == 4


def test_the_deadline_fails_the_action_once_and_a_late_answer_only_is_recorded(sent):
    _, keys, action, call = sent
    assert not power.call_expire(str(call.pk), now=call.deadline - timedelta(seconds=1))
    assert power.calls_expire(now=call.deadline) == 1
    action.refresh_from_db()
    assert (action.status, action.error_cause) == ("failed", "gateway_offline")
    assert action.error.startswith("site gateway offline: gw-a did not answer")
    assert power.calls_expire(now=call.deadline + timedelta(hours=1)) == 0

    late = {"ok": True, "changed": True, "outcome_state": "off", "state": "off"}
    assert results.result_receive(*_answer(keys, "gw-a", str(call.pk), late)) == "late"
    action.refresh_from_db()
    assert action.status == "failed"  # the engineer was told it failed; the record says more
    assert AuditEvent.objects.filter(action="gateway.late_answer").count() == 1
    action.node.refresh_from_db()
    assert action.node.power_state == "off"


def test_a_heartbeat_refreshes_last_contact_only(sent):
    gateway, keys, _, _ = sent
    assert results.result_receive(*_answer(keys, "gw-a", "", {}, kind="heartbeat")) == "heartbeat"
    gateway.refresh_from_db()
    assert timezone.now() - gateway.last_contact_at < timedelta(minutes=1)


def test_a_sweep_sends_gateway_sites_nodes_to_their_gateway_and_stores_its_answer(
    monkeypatch,
):
    from apps.gateways import dispatch, polling

    sent_calls = []
    monkeypatch.setattr(
        dispatch, "gateway_send", lambda name, task, call, expires: sent_calls.append(call)
    )
    site_a, site_b, direct = SiteFactory(), SiteFactory(), SiteFactory()
    gateway_a, keys_a = _gateway("gw-a", site_a)
    _gateway("gw-b", site_b)
    node_a = NodeFactory(site=site_a, bmc_password="alpha-1")
    node_b = NodeFactory(site=site_b, bmc_password="bravo-2")
    node_direct = NodeFactory(site=direct)
    local = polling.bmc_poll_send([node_a, node_b, node_direct])
    assert local == [node_direct]  # polled here, as without gateways
    to_a = next(c for c in sent_calls if c["gateway"] == "gw-a")
    opened = crypto.unseal(keys_a, to_a["sealed"], aad=f"gw-a:{to_a['call_id']}")
    assert [e["node_id"] for e in opened["endpoints"]] == [node_a.pk]
    assert opened["endpoints"][0]["endpoint"]["password"] == "alpha-1"

    now = timezone.now().isoformat()
    reading = {
        "name": "CPU1 Temp",
        "kind": "temperature",
        "value": 51.0,
        "unit": "C",
        "health": "ok",
    }
    answer = {
        "results": [
            {
                "node_id": node_a.pk,
                "ok": True,
                "power_state": "on",
                "sensors": [reading],
                "system_power_watts": 310.0,
                "polled_at": now,
            },
            # another site's node: not this gateway's to report on
            {"node_id": node_b.pk, "ok": False, "cause": "unreachable", "polled_at": now},
        ]
    }
    document, signature = _answer(keys_a, "gw-a", to_a["call_id"], answer, kind="bmc_poll")
    assert results.result_receive(document, signature) == "stored"
    node_a.refresh_from_db()
    node_b.refresh_from_db()
    assert (node_a.power_state, node_a.reachable, node_a.power_w) == ("on", True, 310.0)
    assert node_b.last_seen is None and node_b.reachable is not False
    assert node_a.telemetry.get().cpu_temp_c == 51.0
    # the same answer again is refused (one answer per call)
    assert results.result_receive(document, signature) == "refused"
    assert gateway_a.calls.get(kind="bmc_poll").status == "answered"
