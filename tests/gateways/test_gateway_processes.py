"""Two gateways as separate processes on RabbitMQ, each with its own restricted user and no
database, and a central worker: power actions of a site run on its gateway only, an offline
gateway's action fails at its deadline (and never fires later), a gateway killed mid-action
neither loses nor doubles it, and a gateway cut off from the broker keeps reading its meter into
its spool, across a restart, and uploads the readings when its uplink is back."""

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from kombu import Connection

from apps.gateways import crypto, dispatch, meters
from apps.gateways.models import GatewayCall
from apps.hardware import services as hardware
from apps.hardware.models import PowerAction
from apps.heat.models import HourlyRollup, QualityFlag, Reading
from apps.lab.bmc import LabBmcServer
from apps.lab.meters import MeterFarm
from tests.celery_worker import ROOT, celery_worker, database_url, wait_for
from tests.factories import HeatMeterFactory, NodeFactory, SiteFactory
from tests.gateways.conftest import RABBIT_HOST, RABBIT_PORT

pytestmark = pytest.mark.django_db(transaction=True)
NOWHERE = "postgresql://nobody@127.0.0.1:9/nowhere"  # a gateway has no database

CENTRAL = r"""
import django
django.setup()
from heatsite.celery import app
app.worker_main(["worker", "--pool=prefork", "--concurrency=1", "-Q", "central.results",
                 "-n", "central-%h", "--without-heartbeat", "--without-mingle",
                 "--without-gossip", "--loglevel=INFO"])
"""


class Uplink:
    """A gateway's uplink: a TCP relay to RabbitMQ that the test can cut (its connections
    dropped, new ones closed at once, as a dead 4G link would) and restore."""

    def __init__(self, host: str, port: int):
        self.upstream = (host, port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.up = True
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.open |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(src, dst)

    def _drop(self, *socks: socket.socket) -> None:
        for sock in socks:
            with self.lock:
                self.open.discard(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        self.up = False
        with self.lock:
            socks = list(self.open)
        self._drop(*socks)

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.server.close()
        self.cut()


class GatewayProcess:
    """``manage.py run_gateway --config FILE`` in its own session, startable again (through an
    `Uplink` when given one)."""

    def __init__(self, gateway, directory: Path, uplink: Uplink | None = None):
        self.gateway, self.uplink = gateway, uplink
        broker_url = gateway.broker_url
        if uplink is not None:
            broker_url = broker_url.replace(f":{RABBIT_PORT}/", f":{uplink.port}/")
        self.state = directory / "state"
        self.config = directory / "gateway.toml"
        self.log = directory / "gateway.log"
        directory.mkdir()
        key = directory / "gateway.key"
        crypto.keys_write(gateway.keys, key)
        self.config.write_text(
            f'name = "{gateway.name}"\nbroker_url = "{broker_url}"\n'
            f'private_key = "{key}"\nstate_dir = "{self.state}"\nbmc_timeout = 10\n'
            "heartbeat_interval = 5\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self, *, ready: bool = True) -> None:
        """Starts it; waits until its worker is ready (``ready=False``: until it runs, for a
        gateway whose broker cannot be reached)."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "run_gateway", "--config", str(self.config)],
                cwd=ROOT,
                env={**os.environ, "DATABASE_URL": NOWHERE, "PYTHONPATH": str(ROOT)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if ready:
            wait_for(
                lambda: (
                    "ready." in self.log.read_text(errors="replace")[offset:]
                    or self.proc.poll() is not None
                ),
                f"gateway {self.gateway.name} to start",
            )
        assert self.proc.poll() is None, self.log.read_text()[-3000:]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def journal(self, call_id: str) -> dict | None:
        try:
            return json.loads((self.state / "calls" / f"{call_id}.json").read_text())
        except (OSError, ValueError):
            return None

    def calls(self) -> set[str]:
        return {p.stem for p in (self.state / "calls").glob("*.json")}

    def spooled(self) -> list[str]:
        """The read times of the readings in its spool, oldest first."""
        path = self.state / "spool.sqlite3"
        if not path.exists():
            return []
        db = sqlite3.connect(path, timeout=30)
        try:
            return [r[0] for r in db.execute("SELECT read_at FROM reading ORDER BY seq")]
        except sqlite3.OperationalError:  # not created yet
            return []
        finally:
            db.close()


@pytest.fixture(scope="module")
def lab():
    with LabBmcServer(count=3) as server:
        yield server


@pytest.fixture(scope="module")
def processes(rabbit, lab, django_db_blocker):
    """Gateways A and B and a central worker, all on the test vhost."""
    with django_db_blocker.unblock():
        url = database_url()
    uplink = Uplink(RABBIT_HOST, RABBIT_PORT)  # B reaches the broker through it
    with tempfile.TemporaryDirectory(prefix="heatsite-gw-") as tmp:
        a = GatewayProcess(rabbit.a, Path(tmp, "a"))
        b = GatewayProcess(rabbit.b, Path(tmp, "b"), uplink)
        with Connection(rabbit.url) as conn:  # as enrolment does, before any gateway runs
            dispatch.RESULTS.bind(conn.default_channel).declare()
        env = {
            "CELERY_BROKER_URL": rabbit.url,
            "GATEWAY_BROKER_URL": rabbit.url,
            # the central side counts up to 60 s between readings as covered (3 intervals):
            # a gateway restarted on a busy machine stays within it
            "METER_POLL_INTERVAL": "20",
        }
        with celery_worker(CENTRAL, database=url, env=env), contextlib.ExitStack() as stack:
            stack.callback(uplink.close)
            for each in (a, b):
                # Celery's cold shutdown: a warm one waits for the broker connection that a
                # restarted gateway re-establishes (10 s after the spool test), tested nowhere
                stack.callback(each.stop, signal.SIGQUIT)
                each.start()
            yield a, b


@pytest.fixture
def fleet(processes, rabbit, lab, gateway_settings, monkeypatch):
    """Site A (BMCs 0 and 2) behind gateway A, site B (BMC 1) behind gateway B."""
    from apps.hardware.tasks import power_execute_task

    gateway_settings.GATEWAY_POWER_DEADLINE = 120
    gateway_settings.GATEWAY_START_MARGIN = 30
    dispatch.results_declare()
    # the central state machine runs here; the gateway's answer is taken by the central worker
    monkeypatch.setattr(power_execute_task, "delay", hardware.power_execute)
    for index in range(lab.count):
        lab.bmc(index).faults.slow_ms = 0
        lab.bmc(index).set_power("on")
        lab.bmc(index).chassis_controls.clear()
    site_a, site_b = SiteFactory(), SiteFactory()
    rabbit.a.row(site_a)
    rabbit.b.row(site_b)
    a, b = processes
    return {
        "a": NodeFactory(site=site_a, bmc_port=lab.port(0)),
        "a2": NodeFactory(site=site_a, bmc_port=lab.port(2)),
        "b": NodeFactory(site=site_b, bmc_port=lab.port(1)),
        "gw_a": a,
        "gw_b": b,
    }


def finished(action_id: int) -> PowerAction:
    return wait_for(
        lambda: PowerAction.objects.filter(
            pk=action_id, status__in=["succeeded", "failed"]
        ).first(),
        f"power action {action_id} to finish",
    )


def call_of(action: PowerAction) -> str:
    return str(GatewayCall.objects.get(action=action).pk)


def test_each_sites_actions_run_on_its_gateway_and_an_offline_gateway_fails_at_the_deadline(
    fleet, lab, engineer, gateway_settings
):
    gw_a, gw_b = fleet["gw_a"], fleet["gw_b"]
    off_a = hardware.power_request(actor=engineer, node=fleet["a"], kind="off")
    off_b = hardware.power_request(actor=engineer, node=fleet["b"], kind="off")
    for action in (off_a, off_b):
        done = finished(action.pk)
        assert (done.status, done.state_after) == ("succeeded", "off"), done.error
    assert call_of(off_a) in gw_a.calls() and call_of(off_a) not in gw_b.calls()
    assert call_of(off_b) in gw_b.calls() and call_of(off_b) not in gw_a.calls()
    assert lab.bmc(0).chassis_controls == ["off"] and lab.bmc(1).chassis_controls == ["off"]

    gw_b.stop()  # site B's uplink or gateway is down
    gateway_settings.GATEWAY_POWER_DEADLINE, gateway_settings.GATEWAY_START_MARGIN = 8, 3
    on_b = hardware.power_request(actor=engineer, node=fleet["b"], kind="on")
    on_a = hardware.power_request(actor=engineer, node=fleet["a"], kind="on")
    done_a = finished(on_a.pk)
    assert (done_a.status, done_a.state_after) == ("succeeded", "on"), done_a.error
    done_b = finished(on_b.pk)
    assert (done_b.status, done_b.error_cause) == ("failed", "gateway_offline")
    assert done_b.error.startswith("site gateway offline")
    assert done_b.finished_at >= GatewayCall.objects.get(action=on_b).deadline

    gateway_settings.GATEWAY_POWER_DEADLINE, gateway_settings.GATEWAY_START_MARGIN = 120, 30
    gw_b.start()  # back: the expired "on" still waits in its queue, ahead of this one
    again_b = hardware.power_request(actor=engineer, node=fleet["b"], kind="on")
    done = finished(again_b.pk)
    # the node was still off when this one came: the expired "on" never fired
    assert (done.status, done.result) == ("succeeded", "Power on sent; the node is now on.")
    assert lab.bmc(1).chassis_controls == ["off", "on"]
    assert call_of(on_b) not in gw_b.calls()


@pytest.mark.parametrize(
    ("kind", "status", "cause"), [("off", "succeeded", ""), ("reset", "failed", "interrupted")]
)
def test_a_gateway_killed_mid_action_neither_loses_nor_doubles_it(
    fleet, lab, engineer, kind, status, cause
):
    gw_a, bmc = fleet["gw_a"], lab.bmc(2)
    bmc.faults.slow_ms = 700  # every round trip takes 0.7 s: the login holds the action
    action = hardware.power_request(actor=engineer, node=fleet["a2"], kind=kind)
    call_id = call_of(action)
    wait_for(
        lambda: (gw_a.journal(call_id) or {}).get("state") == "started",
        "the gateway to start the action",
    )
    gw_a.stop(signal.SIGKILL)  # the whole gateway, as a power cut at the boiler room would
    bmc.faults.slow_ms = 0
    gw_a.start()

    done = finished(action.pk)
    assert (done.status, done.error_cause) == (status, cause), done.error
    if kind == "off":
        assert (bmc.chassis_controls, bmc.power_state) == (["off"], "off")
    else:
        assert bmc.chassis_controls in ([], ["reset"])
        assert "It was not repeated" in done.error


def test_a_sweep_polls_gateway_sites_through_their_gateways(fleet, lab):
    from apps.hardware.models import NodeTelemetry
    from apps.sites.models import Node

    lab.bmc(1).set_power("off")
    ids = [fleet["a"].pk, fleet["b"].pk]
    hardware.bmc_sweep_nodes(ids)  # sends both to their gateways, polls nothing here
    polled = wait_for(
        lambda: NodeTelemetry.objects.filter(node_id__in=ids).count() == 2,
        "both gateways' poll results to be stored",
    )
    assert polled
    states = dict(Node.objects.filter(pk__in=ids).values_list("pk", "power_state"))
    assert states == {fleet["a"].pk: "on", fleet["b"].pk: "off"}
    assert set(GatewayCall.objects.filter(kind="bmc_poll").values_list("status", flat=True)) == {
        "answered"
    }


@pytest.fixture(scope="module")
def tpm_lab(tmp_path_factory):
    from apps.lab.tpm.node import start_fleet

    fleet = start_fleet(2, tmp_path_factory.mktemp("gw-tpm"))
    yield fleet
    fleet.stop()


def test_tpm_quotes_go_through_each_sites_gateway_and_are_judged_centrally(fleet, tpm_lab):
    from apps.attestation import services as attestation
    from apps.attestation.models import Attestation
    from apps.lab.tpm.seed import seed_lab_nodes

    nodes = {"a": fleet["a"], "b": fleet["b"]}
    seed_lab_nodes(list(nodes.values()))
    for node, lab in zip(nodes.values(), tpm_lab.nodes, strict=True):
        attestation.endpoint_register(
            node=node,
            host="127.0.0.1",
            port=lab.agent_port,
            cert_fingerprint=lab.cert_fingerprint,
            token=lab.token,
        )
    ids = [n.pk for n in nodes.values()]
    # nothing is attested here: enrolment (identity, activation) then the quote, each on the
    # node's own gateway, the answers taken and judged by the central worker
    assert attestation.attestation_sweep(ids) == {"enrol_sent_to_gateway": 2, "skipped": 0}
    verdicts = wait_for(
        lambda: (
            dict(Attestation.objects.filter(node_id__in=ids).values_list("node_id", "verdict"))
            if Attestation.objects.filter(node_id__in=ids).count() == 2
            else None
        ),
        "both nodes' first attestation through their gateways",
    )
    assert verdicts == {nodes["a"].pk: "trusted", nodes["b"].pk: "trusted"}
    routes = set()
    for call in GatewayCall.objects.filter(kind__startswith="tpm_").select_related("gateway"):
        assert call.status == "answered"
        asked = call.detail.get("nonces") or call.detail.get("nodes")
        routes |= {(int(node_id), call.gateway.name) for node_id in asked}
    assert routes == {
        (nodes["a"].pk, fleet["gw_a"].gateway.name),
        (nodes["b"].pk, fleet["gw_b"].gateway.name),
    }


def wait_long(predicate, what: str, timeout: float = 240.0):
    """`wait_for` with a longer bound: a worker cut off from its broker reconnects with a
    back-off of up to 30 s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_gateway_cut_off_spools_its_readings_across_a_restart_and_uploads_them_without_a_gap(
    fleet, gateway_settings
):
    gw_b = fleet["gw_b"]
    gateway_settings.METER_POLL_INTERVAL = 1  # the gateway reads its meter every second
    with MeterFarm() as farm:
        lab = farm.add("HM-GW-B")
        meter = HeatMeterFactory(
            site=fleet["b"].site, serial="HM-GW-B", port=lab.port, unit_id=lab.unit_id
        )
        assert meters.meter_poll_send([meter.pk]) == []  # B's meter list goes to B
        wait_for(lambda: Reading.objects.filter(meter=meter).count() >= 2, "B's readings")

        gw_b.uplink.cut()
        wait_for(lambda: len(gw_b.spooled()) >= 3, "B to spool readings with its uplink down")
        gw_b.stop(signal.SIGKILL)  # a power cut in the boiler room, the uplink still down
        before_restart = gw_b.spooled()
        gw_b.start(ready=False)  # no broker: it reads from the meter list it kept
        wait_for(
            lambda: len(gw_b.spooled()) >= len(before_restart) + 3,
            "the restarted B to keep spooling",
        )
        waiting = gw_b.spooled()
        assert waiting[: len(before_restart)] == before_restart  # kept across the kill
        # nothing read since the restart reached the central side: the uplink is down
        restarted_at = datetime.fromisoformat(waiting[len(before_restart)])
        assert not Reading.objects.filter(meter=meter, ts__gte=restarted_at).exists()

        gw_b.uplink.restore()
        first = datetime.fromisoformat(waiting[0])
        wait_long(
            lambda: Reading.objects.filter(meter=meter, ts__gte=first).count() >= len(waiting),
            "B's spooled readings to be stored",
        )
        wait_long(lambda: not set(waiting) & set(gw_b.spooled()), "B's spool to be acknowledged")

    stored = list(Reading.objects.filter(meter=meter).order_by("ts"))
    stamps = {r.ts for r in stored}
    assert {datetime.fromisoformat(t) for t in waiting} <= stamps  # their original read times
    assert len(stamps) == len(stored)
    # no gap: every interval since the first reading counted as covered, none after a gap
    assert not [r.ts for r in stored[1:] if r.flags & QualityFlag.AFTER_GAP]
    covered = sum(HourlyRollup.objects.filter(meter=meter).values_list("covered_s", flat=True))
    assert covered == pytest.approx((stored[-1].ts - stored[0].ts).total_seconds())
