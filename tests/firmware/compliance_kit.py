"""Rows for compliance and maintenance-notice tests: bundles of a SKU, nodes with what their
BMC reported, and the desired bundle set through the service."""

from __future__ import annotations

from datetime import UTC, datetime

from apps.attestation.models import PlatformProfile
from apps.firmware.desired import desired_bundle_set
from apps.firmware.models import BundleComponent, FirmwareBundle, FirmwareImage
from apps.hardware.models import BmcFacts
from apps.sites.models import Node
from tests.factories import NodeFactory

SKU = "HS-EDGE-1"
READ_AT = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


def make_bundle(
    version: str, components: dict[str, str], sku: str = SKU, release_version: str = ""
) -> FirmwareBundle:
    """A bundle row of ``sku`` with ``components`` (name -> version) in that order, each with an
    image row; ``release_version`` is the firmware release its predictions come from."""
    profile, _ = PlatformProfile.objects.get_or_create(sku=sku)
    bundle = FirmwareBundle.objects.create(
        profile=profile,
        version=version,
        release_version=release_version,
        manifest={},
        manifest_sha256=f"{sku}/{version}".encode().hex().ljust(64, "0")[:64],
        measurement_source="artefacts",
        signature_alg="ed25519",
        signature_key_id="test",
        signature_key_sha256="ef" * 32,
        signature="",
    )
    for position, (component, comp_version) in enumerate(components.items()):
        image = FirmwareImage.objects.create(
            component=component,
            version=comp_version,
            sku=sku,
            sha256=f"{sku}{component}{comp_version}".encode().hex().ljust(64, "0")[:64],
            size=1,
            file=f"{component.lower()}/{sku}-{comp_version}.bin",
        )
        BundleComponent.objects.create(
            bundle=bundle,
            position=position,
            component=component,
            version=comp_version,
            image=image,
            file_name=f"{component.lower()}.hsfw",
        )
    return bundle


def make_desired(engineer, version="1.5.0", components=None, sku=SKU) -> FirmwareBundle:
    bundle = make_bundle(version, components or {"BMC": "2.50", "BIOS": "1.5.0"}, sku)
    desired_bundle_set(actor=engineer, bundle_id=bundle.pk)
    return bundle


def add_node(site, name, versions=None, *, model=SKU, read_at=READ_AT, **kw) -> Node:
    """A node whose BMC reported ``versions`` ({component: version}); None: never read."""
    kw.setdefault("bmc_protocol", "redfish")  # firmware updates need Redfish
    node = NodeFactory(site=site, name=name, model=model, **kw)
    if versions is not None:
        BmcFacts.objects.create(
            node=node,
            firmware=[
                {
                    "id": component,
                    "component": component,
                    "version": version,
                    "updateable": True,
                    "read_at": read_at.isoformat(),
                }
                for component, version in versions.items()
            ],
        )
    return node
