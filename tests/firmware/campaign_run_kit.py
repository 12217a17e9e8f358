"""A lab campaign: lab Redfish BMCs on the lab's first release, the lab's two releases stored
as signed bundles (predicted for every node), nodes at two sites, a campaign created, approved
by a second engineer and started; ``drive`` plays the executor's rounds, the power worker and
both clocks (Heatsite's and the lab BMCs'), never sleeping."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.attestation import services as attestation
from apps.firmware.bundles import bundle_store
from apps.firmware.campaign_run import campaign_advance
from apps.firmware.campaign_services import campaign_create, campaign_transition
from apps.firmware.campaigns import Campaign, CampaignNode
from apps.hardware import services as hardware_services
from apps.hardware.drivers import driver_for
from apps.hardware.drivers.redfish import transport
from apps.hardware.models import BmcFacts, PowerAction
from apps.hardware.protocols import endpoint_for
from apps.lab.firmware import LAB_FIRMWARE_VERSIONS, LAB_SKU
from apps.lab.tpm.seed import seed_lab_nodes
from tests.factories import SiteFactory, UserFactory
from tests.firmware.bundle_kit import lab_release_bundle
from tests.hardware.redfish_nodes import dual_lab_node

OLD, NEW = LAB_FIRMWARE_VERSIONS[:2]
UPDATE_SECONDS = 30.0
ROUND = timedelta(seconds=20)


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def versions(node) -> dict[str, str]:
    driver = driver_for(endpoint_for(node, "redfish"))
    return {f.id: f.version for f in driver.firmware()}


def facts_refresh(node) -> None:
    """What the BMC sweep records: the planner reads the versions from here."""
    driver = driver_for(endpoint_for(node, "redfish"))
    firmware = [
        {"id": f.id, "component": f.component, "version": f.version} for f in driver.firmware()
    ]
    BmcFacts.objects.update_or_create(node=node, defaults={"firmware": firmware})


@dataclass
class World:
    lab: object
    sites: list
    nodes: list
    bundles: dict
    engineer: object
    engineer2: object
    clock: object
    lab_clock: object
    rounds: int = 0
    resets: list = field(default_factory=list)
    hold_power: bool = False  # the power worker is down (tests of a killed worker)

    def campaign(self, **strategy) -> Campaign:
        base = {
            "canary": False,
            "waves": ["2", "rest"],
            "soak_minutes": 0,
            "max_down_per_site": 1,
            "retries": 0,
            "error_threshold_count": 2,
            "error_threshold_pct": None,
            "error_min_sample": 1,
        }
        campaign, _ = campaign_create(
            spec={
                "name": "lab rollout",
                "bundle": {"sku": LAB_SKU, "version": NEW},
                "targets": {"sites": [s.code for s in self.sites]},
                "strategy": base | strategy,
            },
            actor=self.engineer,
        )
        campaign_transition(campaign_id=campaign.pk, action="approve", actor=self.engineer2)
        return campaign_transition(campaign_id=campaign.pk, action="start", actor=self.engineer)

    def power_worker(self) -> None:
        for action in PowerAction.objects.filter(status=PowerAction.Status.PENDING):
            hardware_services.power_execute(action.pk)
            self.resets.append(action.pk)

    def step(self, campaign: Campaign, extra: dict | None = None) -> str | None:
        """One executor round, then the power worker, then both clocks move on."""
        state = campaign_advance(campaign.pk, now=self.clock.now)
        if not self.hold_power:
            self.power_worker()
        self.clock.advance(seconds=ROUND.total_seconds())
        self.lab_clock.advance(ROUND.total_seconds())
        self.rounds += 1
        return state

    def drive(self, campaign: Campaign, until=None, limit: int = 400) -> Campaign:
        """Rounds until the campaign leaves the executor's hands (or ``until(campaign)``)."""
        for _ in range(limit):
            state = self.step(campaign)
            campaign.refresh_from_db()
            if until is not None and until(campaign):
                return campaign
            if state not in (Campaign.State.RUNNING, Campaign.State.ROLLING_BACK) and not (
                CampaignNode.objects.filter(campaign=campaign, state="running").exists()
            ):
                return campaign
        raise AssertionError(f"campaign still {campaign.state} after {limit} rounds")


class Clock:
    def __init__(self):
        self.now = timezone.now()

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


def store_lab_bundles(engineer, key) -> dict:
    out = {}
    for version in (OLD, NEW):
        made = lab_release_bundle(version)
        out[version] = bundle_store(
            actor=engineer,
            manifest=made.manifest_bytes(),
            signature=made.signature(key),
            images=made.images,
        )
    return out


@pytest.fixture
def make_world(make_dual_lab, lab_redfish_clock, engineer, trusted, ed_key, settings):
    settings.BMC_TIMEOUT = 10.0
    made = []

    def make(per_site: int = 2, sites: int = 2) -> World:
        lab = make_dual_lab(count=per_site * sites)
        for i in range(per_site * sites):
            lab.redfish.service(i).update_seconds = UPDATE_SECONDS
        site_rows = [SiteFactory(code=f"boiler-{s + 1}", timezone="UTC") for s in range(sites)]
        nodes = [
            dual_lab_node(
                lab,
                i,
                accepted=True,
                site=site_rows[i // per_site],
                bmc_protocol="redfish",
                model=LAB_SKU,
                power_w=300.0,
                name=f"lab-{i:02d}",
            )
            for i in range(per_site * sites)
        ]
        seed_lab_nodes(nodes, OLD)
        for node in nodes:  # an agent that does not answer (with_tpms ties real ones)
            attestation.endpoint_register(
                node=node,
                host="127.0.0.1",
                port=closed_port(),
                cert_fingerprint="ab" * 32,
                token=b"not-a-real-agent-token",
            )
        for node in nodes:
            facts_refresh(node)
        bundles = store_lab_bundles(engineer, ed_key)
        world = World(
            lab=lab,
            sites=site_rows,
            nodes=nodes,
            bundles=bundles,
            engineer=engineer,
            engineer2=UserFactory(username="engineer2", role="engineer"),
            clock=Clock(),
            lab_clock=lab_redfish_clock,
        )
        made.append(world)
        return world

    yield make
    transport.close_all()


def with_tpms(world: World, fleet) -> None:
    """Each lab node's TPM tied to its BMC and its agent registered with the console."""
    from apps.lab.tpm.host import attach

    for i, node in enumerate(world.nodes):
        tpm = fleet.nodes[i]
        attach(world.lab.bmc(i), tpm)
        attestation.endpoint_register(
            node=node,
            host="127.0.0.1",
            port=tpm.agent_port,
            cert_fingerprint=tpm.cert_fingerprint,
            token=tpm.token,
        )
