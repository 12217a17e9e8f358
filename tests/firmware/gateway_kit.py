"""Firmware updates through an in-process site gateway: its worker on ``memory://`` runs each
call it is sent (as its queue would deliver it) and its answers are signed and taken centrally
by `results.result_receive`; `drive` plays the central workers until the update is over."""

import contextlib
from types import SimpleNamespace

from apps.gateways import agent, crypto, results, wire
from apps.gateways.models import Gateway, GatewaySite
from apps.hardware.drivers import redfish
from apps.hardware.services import power_execute
from tests.firmware.conftest import UPDATE_SECONDS, advance


class SiteGateway:
    """A gateway (row, keys, in-process worker on ``memory://``) and what it answered."""

    def __init__(self, name, site, tmp_path, *, keys=None, relay=None):
        """A new gateway row for ``site``; or, given its ``keys``, the one already enrolled."""
        self.keys = keys or crypto.keys_generate()
        crypto.keys_write(self.keys, tmp_path / f"{name}.key")
        self.row = Gateway.objects.filter(name=name).first() or Gateway.objects.create(
            name=name,
            box_public_key=self.keys.box_public,
            signing_public_key=self.keys.signing_public,
        )
        GatewaySite.objects.get_or_create(site=site, defaults={"gateway": self.row})
        self.worker = agent.Gateway(
            agent.GatewayConfig(
                name=name,
                broker_url="memory://",
                private_key=tmp_path / f"{name}.key",
                state_dir=tmp_path / name,
                image_relay=relay,  # its [images] relay: pins the images of running updates
            )
        )
        self.answers = []
        self.worker.publish = lambda kind, call_id, payload, **_: self.answers.append(
            (kind, call_id, payload)
        )
        self.received = []  # every call its queue delivered, as it came

    def run(self, task, call):
        self.received.append((task, call))
        with on_gateway():
            self.worker.app.tasks[task](call)
        out = []
        while self.answers:
            kind, call_id, payload = self.answers.pop(0)
            document = wire.envelope(
                gateway=self.row.name, kind=kind, call_id=call_id, payload=payload, version="1.2"
            )
            out.append(results.result_receive(document, crypto.sign(self.keys, document)))
        return out


where = SimpleNamespace(gateway=False)


@contextlib.contextmanager
def on_gateway():
    where.gateway = True
    try:
        yield
    finally:
        where.gateway = False


def pump(world) -> list[str]:
    """Each gateway runs what was sent to its queue; its answers are taken centrally."""
    handled = []
    while world.sent:
        name, task, call = world.sent.pop(0)
        handled += world.gw[name].run(task, call)
    return handled


def drive(world, update, clock, *, limit=30):
    """Plays the workers until the update is over: each step, then what it asked of the
    gateway, the reset's power action when there is one. Returns the calls' kinds in order."""
    asked = []
    for _ in range(limit):
        update, _ = advance(update, clock)
        if not update.is_active:
            return update, asked
        asked += [call.get("op", task) for _, task, call in world.sent]
        if world.sent:
            assert set(pump(world)) <= {"answered", "finished"}
        elif update.power_action_id and update.power_action.is_active:
            power_execute(update.power_action_id)  # the power worker: sends it to the gateway
            asked += [task for _, task, _ in world.sent]
            assert pump(world) == ["finished"]
        else:
            world.bmc_clock.advance(UPDATE_SECONDS)  # the BMC's task runs
    raise AssertionError(f"still {update.state} after {limit} steps")


def central_drivers(monkeypatch) -> list[str]:
    """Records every Redfish driver built outside a gateway task (there must be none)."""
    built, real = [], redfish.RedfishDriver

    def driver(endpoint, **options):
        if not where.gateway:
            built.append(endpoint.host)
        return real(endpoint, **options)

    monkeypatch.setattr(redfish, "RedfishDriver", driver)
    return built
