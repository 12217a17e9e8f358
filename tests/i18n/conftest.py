"""The firmware kits' fixtures for the French walkers of campaign and bundle pages."""

from tests.firmware.bundle_kit import ec_key, ed_key, lab_reference, trusted  # noqa: F401
from tests.firmware.campaign_kit import engineer2, fleet  # noqa: F401 (fixtures)
