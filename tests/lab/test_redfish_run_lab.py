"""``manage.py run_lab`` gives every loopback node's lab BMC a Redfish face too."""

import io
import socket

import pytest
from django.core.management import call_command

from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_lab_starts_a_redfish_face_per_node_and_stops_it(tmp_path):
    udp, tcp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    NodeFactory(name="boiler-7", bmc_port=udp)
    out = io.StringIO()
    call_command(
        "run_lab",
        "--no-tpm",
        "--run-for=0.01",
        "--sync-every=0.01",
        f"--redfish-state-dir={tmp_path}",
        redfish_offset=tcp - udp,
        stdout=out,
    )
    assert "Redfish on HTTPS 127.0.0.1" in out.getvalue()
    assert (tmp_path / "boiler-7.pem").exists()
    # stopped with the lab: the port is free again
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", tcp))


def test_run_lab_without_redfish(tmp_path):
    udp = free_port(socket.SOCK_DGRAM)
    NodeFactory(name="boiler-8", bmc_port=udp)
    out = io.StringIO()
    call_command(
        "run_lab",
        "--no-tpm",
        "--no-redfish",
        "--run-for=0.01",
        "--sync-every=0.01",
        f"--redfish-state-dir={tmp_path}",
        stdout=out,
    )
    assert "Redfish" not in out.getvalue()
    assert not list(tmp_path.iterdir())
