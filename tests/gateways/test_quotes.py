"""TPM quotes and enrolment of a gateway site's nodes: the gateway (in-process here) asks the
lab's swtpm-backed agents over loopback; the central side makes the nonces and the credential,
and judges the evidence with the same verifier as a direct check."""

import base64
from datetime import timedelta

import pytest

from apps.attestation import services
from apps.attestation.models import Attestation, Enrolment
from apps.attestation.tasks import attest_node_task
from apps.audit.models import AuditEvent
from apps.gateways import agent, crypto, dispatch, power, results, wire
from apps.gateways.models import Gateway, GatewayCall, GatewaySite
from apps.lab.tpm.node import base_configuration, lab_release, start_fleet
from apps.lab.tpm.seed import seed_lab_nodes
from tests.factories import NodeFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = start_fleet(2, tmp_path_factory.mktemp("gateway-quotes"))
    yield f
    f.stop()


class Site:
    """A gateway (its row, keys and in-process worker) and the calls sent to it."""

    def __init__(self, name, site, tmp_path):
        self.keys = crypto.keys_generate()
        crypto.keys_write(self.keys, tmp_path / f"{name}.key")
        self.row = Gateway.objects.create(
            name=name,
            box_public_key=self.keys.box_public,
            signing_public_key=self.keys.signing_public,
        )
        GatewaySite.objects.create(site=site, gateway=self.row)
        self.worker = agent.Gateway(
            agent.GatewayConfig(
                name=name,
                broker_url="memory://",
                private_key=tmp_path / f"{name}.key",
                state_dir=tmp_path / name,
            )
        )
        self.answers = []
        self.worker.publish = lambda kind, call_id, payload: self.answers.append(
            (kind, call_id, payload)
        )

    def run(self, task, call):
        """What the gateway's task does with ``call``: returns its one answer, signed."""
        self.worker.app.tasks[task](call)
        kind, call_id, payload = self.answers.pop()
        document = wire.envelope(
            gateway=self.row.name, kind=kind, call_id=call_id, payload=payload, version="1.0"
        )
        return document, crypto.sign(self.keys, document)


@pytest.fixture
def world(fleet, monkeypatch, tmp_path):
    """Lab node 0 on a site behind gateway A, lab node 1 on a site without a gateway."""
    sent, timers = [], []
    monkeypatch.setattr(
        dispatch, "gateway_send", lambda name, task, call, expires: sent.append((task, call))
    )
    monkeypatch.setattr(dispatch, "deadline_send", lambda call_id, eta: timers.append(call_id))
    for lab in fleet.nodes:
        lab.release, lab.config = lab_release("1.4.0"), base_configuration()
        lab.boot()
    site_a, direct = SiteFactory(), SiteFactory()
    a = Site("gw-a", site_a, tmp_path)
    node_a, node_d = NodeFactory(site=site_a), NodeFactory(site=direct)
    seed_lab_nodes([node_a, node_d])
    for node, lab in ((node_a, fleet.nodes[0]), (node_d, fleet.nodes[1])):
        services.endpoint_register(
            node=node,
            host="127.0.0.1",
            port=lab.agent_port,
            cert_fingerprint=lab.cert_fingerprint,
            token=lab.token,
        )
    return {"a": a, "node_a": node_a, "node_d": node_d, "sent": sent, "timers": timers}


def pump(world, change=lambda kind, payload: None) -> list[str]:
    """Runs every call sent to gateway A and hands its answers back, until none is left."""
    handled = []
    while world["sent"]:
        task, call = world["sent"].pop(0)
        document, _ = world["a"].run(task, call)
        change(document["kind"], document["payload"])  # what a lying gateway would send
        handled.append(results.result_receive(document, crypto.sign(world["a"].keys, document)))
    return handled


def test_a_gateway_sites_node_is_enrolled_and_quoted_through_its_gateway(world):
    node_a, node_d = world["node_a"], world["node_d"]
    counts = services.attestation_sweep([node_a.pk, node_d.pk])
    # the direct node as before; the gateway's node is only sent
    assert counts["trusted"] == 1 and counts["enrol_sent_to_gateway"] == 1
    assert Attestation.objects.get(node=node_d).verdict == "trusted"
    assert not Attestation.objects.filter(node=node_a).exists()
    assert [task for task, _ in world["sent"]] == [wire.TPM_ENROL_TASK]

    # identity, then activation of the credential made here, then the first quote
    assert pump(world) == ["activating", "enrolled", "recorded"]
    enrolment = Enrolment.objects.get(node=node_a)
    latest = Attestation.objects.get(node=node_a)
    assert (latest.verdict, latest.reason_code, latest.enrolment_id) == (
        "trusted",
        "",
        enrolment.pk,
    )
    quote_call = GatewayCall.objects.get(gateway=world["a"].row, kind="tpm_quote")
    assert quote_call.status == "answered"
    assert latest.nonce == quote_call.detail["nonces"][str(node_a.pk)]
    assert len(world["timers"]) == 3  # every call has its deadline timer
    assert AuditEvent.objects.filter(action="attestation.enrol", target_id=str(node_a.pk)).exists()

    # the next sweep quotes it again with a fresh nonce
    assert services.attestation_sweep([node_a.pk])["sent_to_gateway"] == 1
    assert pump(world) == ["recorded"]
    nonces = list(Attestation.objects.filter(node=node_a).values_list("nonce", flat=True))
    assert len(set(nonces)) == 2


def _enrolled(world):
    services.attestation_sweep([world["node_a"].pk])
    pump(world)
    assert Attestation.objects.get(node=world["node_a"]).verdict == "trusted"


def test_attest_now_sends_a_gateway_sites_node_to_its_gateway(world):
    _enrolled(world)
    assert services.attest(node_id=world["node_a"].pk) is None
    assert attest_node_task(world["node_a"].pk) == "sent_to_gateway"
    assert [task for task, _ in world["sent"]] == [wire.TPM_QUOTE_TASK] * 2
    assert services.attest(node_id=world["node_d"].pk).verdict == "trusted"  # direct


def test_the_gateway_sees_its_own_nodes_tokens_only_and_decides_nothing(world):
    _enrolled(world)
    node_a = world["node_a"]
    services.attestation_sweep([node_a.pk, world["node_d"].pk])
    ((_, call),) = world["sent"]
    opened = crypto.unseal(world["a"].keys, call["sealed"], aad=f"gw-a:{call['call_id']}")
    assert [a["node_id"] for a in opened["agents"]] == [node_a.pk]
    assert world["node_d"].agent.token.hex() not in str(call)  # nor in clear in the message
    with pytest.raises(crypto.SealError):
        crypto.unseal(crypto.keys_generate(), call["sealed"], aad=f"gw-a:{call['call_id']}")

    # a gateway that swaps in an older quote (another nonce) gets "invalid", not trusted
    old = Attestation.objects.filter(node=node_a).latest("at")

    def replay(kind, payload):
        payload["quotes"][0]["attest"] = base64.b64encode(bytes(old.quote)).decode()
        payload["quotes"][0]["signature"] = base64.b64encode(bytes(old.signature)).decode()
        # and reports on a node that is not its own
        payload["quotes"].append({**payload["quotes"][0], "node_id": world["node_d"].pk})

    before_d = Attestation.objects.filter(node=world["node_d"]).count()
    assert pump(world, replay) == ["recorded"]
    latest = Attestation.objects.filter(node=node_a).latest("at")
    assert (latest.verdict, latest.reason_code) == ("invalid", "replayed_quote")
    assert Attestation.objects.filter(node=world["node_d"]).count() == before_d


def test_an_unanswered_quote_is_site_gateway_offline_at_its_deadline(world):
    _enrolled(world)
    services.attestation_sweep([world["node_a"].pk])
    ((_, call),) = world["sent"]
    row = GatewayCall.objects.get(pk=call["call_id"])
    assert not power.call_expire(call["call_id"], now=row.deadline - timedelta(seconds=1))
    assert power.call_expire(call["call_id"], now=row.deadline + timedelta(seconds=1))
    latest = Attestation.objects.filter(node=world["node_a"]).latest("at")
    assert (latest.verdict, latest.reason_code) == ("unreachable", "gateway_offline")
    assert latest.reason.startswith("site gateway offline: gw-a did not answer by the deadline")

    # its answer after the deadline changes nothing: audited as late
    count = Attestation.objects.filter(node=world["node_a"]).count()
    assert pump(world) == ["late"]
    assert Attestation.objects.filter(node=world["node_a"]).count() == count
    assert AuditEvent.objects.filter(action="gateway.late_answer").exists()


def test_an_agent_the_gateway_cannot_reach_is_unreachable_not_a_mismatch(world):
    _enrolled(world)
    services.attestation_sweep([world["node_a"].pk])

    def down(kind, payload):
        payload["quotes"][0] = {
            "node_id": world["node_a"].pk,
            "ok": False,
            "error": "agent 127.0.0.1:1 unreachable: connection refused",
            "transient": True,
        }

    assert pump(world, down) == ["recorded"]
    latest = Attestation.objects.filter(node=world["node_a"]).latest("at")
    assert (latest.verdict, latest.reason_code) == ("unreachable", "unreachable")
    assert latest.reason.startswith("via site gateway gw-a: agent 127.0.0.1:1 unreachable")


@pytest.mark.parametrize(
    ("garbage", "code"),
    [
        ({"quotes": "not a list"}, "unreachable"),  # nothing for the node
        ({"quotes": [{"node_id": "x"}]}, "unreachable"),
        ({"quotes": [{"ok": True, "attest": "%%", "pcrs": [], "ms": "slow"}]}, "agent_refused"),
    ],
)
def test_a_malformed_gateway_answer_is_recorded_unreachable_never_a_crash(world, garbage, code):
    _enrolled(world)
    services.attestation_sweep([world["node_a"].pk])

    def mangle(kind, payload):
        quotes = garbage["quotes"]
        if isinstance(quotes, list) and "ok" in quotes[0]:
            quotes = [{**quotes[0], "node_id": world["node_a"].pk}]
        payload["quotes"] = quotes

    assert pump(world, mangle) == ["recorded"]
    latest = Attestation.objects.filter(node=world["node_a"]).latest("at")
    assert (latest.verdict, latest.reason_code) == ("unreachable", code)


def test_a_large_site_is_asked_in_calls_of_bounded_size(world, fleet, monkeypatch):
    from apps.gateways import quotes

    monkeypatch.setattr(quotes, "CALL_NODES", 1)
    second = NodeFactory(site=world["node_a"].site)
    services.endpoint_register(
        node=second,
        host="127.0.0.1",
        port=fleet.nodes[0].agent_port,
        cert_fingerprint=fleet.nodes[0].cert_fingerprint,
        token=fleet.nodes[0].token,
    )
    counts = services.attestation_sweep([world["node_a"].pk, second.pk])
    assert counts == {"enrol_sent_to_gateway": 2, "skipped": 0}
    calls = GatewayCall.objects.filter(kind="tpm_identity").order_by("sent_at")
    assert sorted(len(c.detail["nodes"]) for c in calls) == [1, 1]
    assert len(world["sent"]) == 2


def test_revoking_the_gateway_ends_its_open_quotes_as_unreachable(world, monkeypatch):
    from apps.gateways import rabbit
    from apps.gateways.services import gateway_revoke

    _enrolled(world)
    monkeypatch.setattr(rabbit, "user_delete", lambda name: None)
    services.attestation_sweep([world["node_a"].pk])
    gateway_revoke(actor=None, gateway=world["a"].row)
    latest = Attestation.objects.filter(node=world["node_a"]).latest("at")
    assert (latest.verdict, latest.reason_code) == ("unreachable", "gateway_revoked")
    # its answer now is refused (revoked), and the node is attested directly from now on
    assert pump(world) == ["refused"]
    assert services.attest(node_id=world["node_a"].pk).verdict == "trusted"
