"""A lab Redfish node, an engineer, images kept in a directory of the test's own, and the
worker played step by step: `advance` is one delivery of the task at a Heatsite time the test
chooses (the lab BMC's own clock is `lab_redfish_clock`); `run_power` plays the power worker."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.firmware import services, tracking
from apps.firmware.models import FirmwareUpdate
from apps.hardware import services as hardware_services
from apps.hardware.drivers import driver_for
from apps.hardware.drivers.redfish import transport
from apps.hardware.protocols import endpoint_for
from apps.lab.redfish.updates import build_image
from tests.firmware.bundle_kit import ec_key, ed_key, lab_reference, trusted  # noqa: F401 (fixtures)
from tests.firmware.campaign_kit import engineer2, fleet  # noqa: F401 (fixtures)
from tests.firmware.campaign_run_kit import make_world  # noqa: F401 (fixture)
from tests.hardware.redfish_nodes import dual_lab_node

UPDATE_SECONDS = 30.0


@pytest.fixture(autouse=True)
def _image_root(settings, tmp_path):
    settings.FIRMWARE_IMAGE_ROOT = tmp_path / "firmware"
    settings.BMC_TIMEOUT = 10.0  # bounds a broken run only; the lab answers in milliseconds


@pytest.fixture
def lab(make_dual_lab):
    lab = make_dual_lab(count=1)
    lab.redfish.service(0).update_seconds = UPDATE_SECONDS
    yield lab
    transport.close_all()


@pytest.fixture
def fw_node(lab, site):
    return dual_lab_node(lab, 0, accepted=True, site=site, bmc_protocol="redfish")


class Clock:
    """Heatsite's time for the steps of one test: starts now, moves only on ``advance``."""

    def __init__(self):
        self.now = timezone.now()

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    return Clock()


def store(engineer, component, version, **options):
    image, _ = services.firmware_image_store(
        actor=engineer,
        name=f"{component.lower()}-{version}.hsfw",
        data=build_image(component, version, **options),
    )
    return image


def request(engineer, node, image, method="push", apply_time="OnReset"):
    return services.firmware_update_request(
        actor=engineer, node=node, image=image, method=method, apply_time=apply_time
    )


def advance(update, clock) -> tuple[FirmwareUpdate, float | None]:
    step = tracking.firmware_update_advance(update.pk, now=clock.now)
    return FirmwareUpdate.objects.get(pk=update.pk), step.retry_in


def run_power(update) -> None:
    """The power worker runs the reset the update asked for."""
    hardware_services.power_execute(update.power_action_id)


def running_version(node, component) -> str:
    driver = driver_for(endpoint_for(node, "redfish"))
    return next(f.version for f in driver.firmware() if f.id == component)
