"""The campaign kit's fleet for the French walkers of campaign pages."""

from tests.firmware.campaign_kit import engineer2, fleet  # noqa: F401 (fixtures)
