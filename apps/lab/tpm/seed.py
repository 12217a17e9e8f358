"""The lab's TPM world written into the database, for the demo and the tests: the lab SKU, its
firmware releases and each node's approved configuration (``manage.py seed_attestation``).

Production fills these through the attestation services from real vendor data; only the lab
knows its own SKU, releases and NICs, so seeding them lives here.
"""

from apps.attestation import services
from apps.attestation.models import (
    FirmwareRelease,
    PlatformProfile,
    events_to_json,
    option_rom_to_json,
)
from apps.sites.models import Node

from .node import (
    APPROVED_NICS,
    LAB_FIRMWARE_VERSIONS,
    LAB_PROFILE,
    base_configuration,
    lab_release,
    nic_option_rom,
)


def lab_variants(slot: int = 2) -> dict:
    """Approved alternatives of a lab node as stored JSON: no card, or an approved NIC."""
    banks = LAB_PROFILE.banks
    return {
        "option_rom_sets": [
            [],
            *([option_rom_to_json(nic_option_rom(m, slot), banks)] for m in APPROVED_NICS),
        ]
    }


def seed_lab_reference() -> dict[str, FirmwareRelease]:
    """The lab SKU and its releases in the database (updated in place)."""
    profile, _ = PlatformProfile.objects.update_or_create(
        sku=LAB_PROFILE.sku,
        defaults={
            "name": LAB_PROFILE.name,
            "banks": list(LAB_PROFILE.banks),
            "pcrs": list(LAB_PROFILE.pcrs),
        },
    )
    out = {}
    for version in LAB_FIRMWARE_VERSIONS:
        release = lab_release(version)
        out[version], _ = FirmwareRelease.objects.update_or_create(
            profile=profile,
            version=version,
            defaults={
                "source": release.source,
                "startup_locality": release.startup_locality,
                "template": events_to_json(release.template),
            },
        )
    return out


def seed_lab_nodes(nodes: list[Node], version: str = LAB_FIRMWARE_VERSIONS[0]) -> int:
    """Give each node the lab's base configuration on ``version`` with the approved variants."""
    releases = seed_lab_reference()
    config, variants = base_configuration(), lab_variants()
    for node in nodes:
        services.configuration_set(
            node=node, release=releases[version], config=config, variants=variants
        )
    return len(nodes)
