"""The gateway's config file: the documented example reads, mistakes are told plainly."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.gateways import agent, crypto

EXAMPLE = Path(__file__).resolve().parents[2] / "gateway" / "gateway.toml.example"


def test_the_documented_example_reads():
    config = agent.config_load(EXAMPLE)
    assert config.name == "boiler-room-lyon-1"
    assert config.broker_url.startswith("amqps://")
    assert agent._ssl_options(config.tls)["ca_certs"] == "/etc/heatsite-gateway/ca.pem"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n', "missing broker_url, private_key, state_dir"),
        ('name = "Bad Name"\nbroker_url="amqp://"\nprivate_key="k"\nstate_dir="s"\n', "name must"),
        ("name = [", "cannot read"),
    ],
)
def test_a_bad_config_is_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "gw.toml"
    path.write_text(text)
    with pytest.raises(agent.ConfigError, match=message):
        agent.config_load(path)
    with pytest.raises(CommandError, match=message):
        call_command("run_gateway", "--config", str(path))


def test_a_missing_key_file_stops_the_gateway_before_it_connects(tmp_path):
    path = tmp_path / "gw.toml"
    path.write_text(
        f'name = "gw-a"\nbroker_url = "amqp://nowhere.invalid//"\n'
        f'private_key = "{tmp_path / "missing.key"}"\nstate_dir = "{tmp_path / "state"}"\n'
    )
    with pytest.raises(CommandError, match="cannot read the gateway key file"):
        call_command("run_gateway", "--config", str(path))


def test_a_journalled_reset_is_not_repeated_when_its_message_comes_back(tmp_path):
    keys = crypto.keys_generate()
    crypto.keys_write(keys, tmp_path / "gw.key")
    config = agent.GatewayConfig(
        name="gw-a",
        broker_url="memory://",
        private_key=tmp_path / "gw.key",
        state_dir=tmp_path / "state",
    )
    gateway = agent.Gateway(config)
    published = []
    gateway.publish = lambda kind, call_id, payload: published.append(payload)
    gateway.journal.put("c1", {"state": "started"})  # killed while sending it
    call = {
        "call_id": "c1",
        "gateway": "gw-a",
        "kind": "reset",
        "start_by": 4e9,
        "sealed": crypto.seal(keys.box_public, {"endpoint": {"host": "10.9.9.9"}}, aad="gw-a:c1"),
    }
    assert gateway.power_call(call) == "done"
    assert published[0]["cause"] == "interrupted"
    assert gateway.journal.get("c1")["sent"] is True
    # the same message once more: the stored answer is sent again, nothing else happens
    assert gateway.power_call(call) == "resent" and published[1] == published[0]
    # another gateway's call or an expired one is not run
    assert gateway.power_call({**call, "gateway": "gw-b"}) == "ignored"
    assert gateway.power_call({**call, "call_id": "c2", "start_by": 1.0}) == "expired"
