"""The gateway's Prometheus endpoint (WORKER_METRICS_PORT): it answers, and counts the gateway's
tasks and the BMC errors of its sweeps. No RabbitMQ: the task runs eagerly on the agent's own
Celery app (in-memory broker for the answer it publishes)."""

import re
import urllib.request

import pytest
from celery.signals import task_postrun, task_prerun

from apps.gateways import agent, crypto, wire
from apps.lab.bmc import LabBmcServer


@pytest.fixture
def gateway(tmp_path):
    keys = crypto.keys_generate()
    crypto.keys_write(keys, tmp_path / "gw.key")
    config = agent.GatewayConfig(
        name="gw-metrics",
        broker_url="memory://",
        private_key=tmp_path / "gw.key",
        state_dir=tmp_path / "state",
        bmc_timeout=5.0,
    )
    return agent.Gateway(config), keys


@pytest.fixture
def served():
    server = agent.metrics_serve({"WORKER_METRICS_PORT": "0"})
    yield server
    server.shutdown()
    server.server_close()
    task_prerun.disconnect(dispatch_uid="heatsite-gateway-prerun")
    task_postrun.disconnect(dispatch_uid="heatsite-gateway-postrun")


def scrape(server) -> str:
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        return response.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent), labels in any order."""
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return 0.0


def test_without_the_port_nothing_is_served():
    assert agent.metrics_serve({}) is None


def test_a_bad_port_stops_the_gateway_with_a_message():
    with pytest.raises(SystemExit, match=r"cannot serve metrics on 127\.0\.0\.1:http"):
        agent.metrics_serve({"WORKER_METRICS_PORT": "http"})


def test_the_endpoint_counts_the_gateways_tasks_and_bmc_errors(gateway, served):
    gw, keys = gateway
    before = scrape(served)
    tasks = "heatsite_task_seconds_count"
    errors = "heatsite_bmc_errors_total"
    with LabBmcServer(count=1) as lab:
        call_id = "call-1"
        endpoint = {"host": "127.0.0.1", "port": lab.port(0), "username": "admin"}
        endpoint["password"] = "not-the-password"
        call = {
            "call_id": call_id,
            "gateway": "gw-metrics",
            "start_by": 4e9,
            "sealed": crypto.seal(
                keys.box_public,
                {"endpoints": [{"node_id": 1, "endpoint": endpoint}]},
                aad=f"gw-metrics:{call_id}",
            ),
        }
        result = gw.app.tasks[wire.BMC_POLL_TASK].apply(args=[call])
    assert result.get() == 1
    after = scrape(served)
    assert sample(after, tasks, task=wire.BMC_POLL_TASK, state="SUCCESS") >= 1 + sample(
        before, tasks, task=wire.BMC_POLL_TASK, state="SUCCESS"
    )
    assert sample(after, "heatsite_sweep_seconds_count", sweep="gateway_bmc") >= 1
    assert sum(
        float(line.rsplit(" ", 1)[1])
        for line in after.splitlines()
        if line.startswith(errors + "{")
    ) > sum(
        float(line.rsplit(" ", 1)[1])
        for line in before.splitlines()
        if line.startswith(errors + "{")
    )


@pytest.mark.django_db
def test_the_central_side_counts_a_verified_heartbeat_per_gateway():
    from apps.gateways import results
    from apps.gateways.models import Gateway
    from apps.ops import metrics

    keys = crypto.keys_generate()
    Gateway.objects.create(
        name="gw-beats", box_public_key=keys.box_public, signing_public_key=keys.signing_public
    )

    def beats() -> float:
        sample = "heatsite_gateway_heartbeats_total"
        return metrics.REGISTRY.get_sample_value(sample, {"gateway": "gw-beats"}) or 0.0

    before = beats()
    document = wire.envelope(
        gateway="gw-beats", kind=wire.HEARTBEAT_KIND, call_id="", payload={}, version="1.0"
    )
    assert results.result_receive(document, crypto.sign(keys, document)) == "heartbeat"
    forged = crypto.sign(crypto.keys_generate(), document)
    assert results.result_receive(document, forged) == "refused"  # not counted
    assert beats() == before + 1
