"""The gateway's image relay settings: read from its config file, mistakes told plainly, and its
address reported to Heatsite with the heartbeat (anything but an http(s) URL is ignored)."""

import threading
from pathlib import Path

import pytest

from apps.gateways import agent, crypto, results, wire
from apps.gateways.models import Gateway

EXAMPLE = Path(__file__).resolve().parents[2] / "gateway" / "gateway.toml.example"
BASE = 'name = "gw-a"\nbroker_url = "amqp://x//"\nprivate_key = "k"\nstate_dir = "/tmp/s"\n'


def test_the_documented_relay_reads():
    relay = agent.config_load(EXAMPLE).image_relay
    assert (relay.listen, relay.port, relay.public_url) == (
        "10.20.0.2",
        8089,
        "http://10.20.0.2:8089",
    )
    assert relay.cache_dir == Path("/var/lib/heatsite-gateway/images")


def test_without_an_images_table_there_is_no_relay(tmp_path):
    path = tmp_path / "gw.toml"
    path.write_text(BASE)
    assert agent.config_load(path).image_relay is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('public_url = "http://10.0.0.2:8089"\ncentral_url = "https://h"\n', "listen must"),
        ('listen = "10.0.0.2"\npublic_url = "ftp://x"\ncentral_url = "https://h"\n', "public_url"),
        ('listen = "a"\npublic_url = "http://a"\ncentral_url = "https://h"\nport = "x"\n', "port"),
        ("images = 3\n", "images"),
    ],
)
def test_a_bad_relay_table_is_refused_with_the_reason(tmp_path, table, message):
    path = tmp_path / "gw.toml"
    path.write_text(BASE + ("[images]\n" + table if not table.startswith("images") else table))
    with pytest.raises(agent.ConfigError, match=message):
        agent.config_load(path)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reported", "stored"),
    [("http://10.0.0.2:8089", "http://10.0.0.2:8089"), ("javascript:alert(1)", ""), (7, "")],
)
def test_the_heartbeat_reports_where_the_sites_bmcs_fetch_images(reported, stored):
    keys = crypto.keys_generate()
    Gateway.objects.create(
        name="gw-a",
        box_public_key=keys.box_public,
        signing_public_key=keys.signing_public,
        image_base_url="http://old:1",
    )
    document = wire.envelope(
        gateway="gw-a",
        kind=wire.HEARTBEAT_KIND,
        call_id="",
        payload={"queue": "gw.gw-a", "image_url": reported},
        version="1.0",
    )
    assert results.result_receive(document, crypto.sign(keys, document)) == "heartbeat"
    assert Gateway.objects.get(name="gw-a").image_base_url == stored


def test_the_gateway_sends_its_relay_address_with_each_heartbeat(tmp_path):
    keys = crypto.keys_generate()
    crypto.keys_write(keys, tmp_path / "gw.key")
    path = tmp_path / "gw.toml"
    path.write_text(
        f'name = "gw-a"\nbroker_url = "memory://"\nprivate_key = "{tmp_path / "gw.key"}"\n'
        f'state_dir = "{tmp_path / "state"}"\n[images]\nlisten = "127.0.0.1"\n'
        'public_url = "http://10.0.0.2:8089"\ncentral_url = "https://heatsite.example"\n'
    )
    gateway = agent.Gateway(agent.config_load(path))
    beats, beat = [], threading.Event()

    def publish(kind, call_id, payload, **_):
        beats.append((kind, payload))
        beat.set()

    gateway.publish = publish
    stop = gateway.heartbeat_start()
    try:
        assert beat.wait(30)
    finally:
        stop.set()
    kind, payload = beats[0]
    assert (kind, payload["image_url"]) == (wire.HEARTBEAT_KIND, "http://10.0.0.2:8089")
