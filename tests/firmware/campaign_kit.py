"""A small fleet for campaign tests: a bundle (BMC 2.50 → BIOS 1.5.0) for SKU HS-EDGE-1, and
nodes of that SKU at several sites with live draw, BMC-reported versions and predictions."""

from __future__ import annotations

import json

import pytest
import yaml
from django.utils import timezone

from apps.firmware.models import BundlePrediction, FirmwareBundle
from apps.hardware.models import BmcFacts
from apps.sites.models import Node
from tests.factories import NodeFactory, SiteFactory, UserFactory
from tests.firmware import compliance_kit

SKU = "HS-EDGE-1"
OLD = [{"component": "BMC", "version": "2.42"}, {"component": "BIOS", "version": "1.4.0"}]
NEW = [{"component": "BMC", "version": "2.50"}, {"component": "BIOS", "version": "1.5.0"}]


def make_bundle(version: str = "1.5.0") -> FirmwareBundle:
    return compliance_kit.make_bundle(
        version, {"BMC": "2.50", "BIOS": version}, release_version=version
    )


def add_node(bundle, site, name, *, power_w=400.0, firmware=OLD, predicted=True, **kw) -> Node:
    kw.setdefault("bmc_protocol", "redfish")  # firmware updates need Redfish
    node = NodeFactory(site=site, name=name, model=SKU, power_w=power_w, **kw)
    BmcFacts.objects.create(node=node, firmware=firmware)
    BundlePrediction.objects.create(
        bundle=bundle,
        node=node,
        pcrs={"0": "aa" * 32} if predicted else None,
        reason_code="" if predicted else "no_configuration",
        reason="" if predicted else "No firmware release and configuration are recorded.",
        computed_at=timezone.now(),
    )
    return node


@pytest.fixture
def fleet(db):
    """Three sites of three nodes; lyon-01's first node has no live draw, lyon-02 holds one
    node already up to date and one whose prediction is impossible."""
    bundle = make_bundle()
    sites = [SiteFactory(code=f"lyon-0{i}", timezone="Europe/Paris") for i in range(1, 4)]
    nodes = {}
    for s, site in enumerate(sites):
        for i in range(3):
            name = f"edge-{s + 1}{i + 1}"
            options = {}
            if name == "edge-11":
                options["power_w"] = None
            if name == "edge-21":
                options["firmware"] = NEW
            if name == "edge-22":
                options["predicted"] = False
            nodes[name] = add_node(bundle, site, name, **options)
    return {"bundle": bundle, "sites": sites, "nodes": nodes}


@pytest.fixture
def engineer2(db):
    return UserFactory(username="engineer2", role="engineer")


def spec(bundle, **strategy) -> dict:
    return {
        "name": "BIOS 1.5.0 Lyon",
        "bundle": {"sku": SKU, "version": bundle.version},
        "targets": {"sites": ["lyon-01", "lyon-02", "lyon-03"]},
        "strategy": {"waves": ["50%", "rest"], "soak_minutes": 15} | strategy,
    }


def write(tmp_path, data, kind="json"):
    path = tmp_path / f"campaign.{kind}"
    text = json.dumps(data) if kind == "json" else yaml.safe_dump(data)
    path.write_text(text)
    return path
