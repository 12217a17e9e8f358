"""The node page's firmware panel: updates in progress and history, in the site's local time."""

import datetime

from django.urls import reverse

from apps.firmware.models import FirmwareImage, FirmwareUpdate


def _image():
    return FirmwareImage.objects.create(
        component="BIOS", version="1.5.0", sku="S", sha256="cd" * 32, size=1, file="bios/x.bin"
    )


def test_the_node_page_loads_the_firmware_panel(client, engineer, node):
    client.force_login(engineer)
    page = client.get(reverse("node-detail", args=[node.pk])).content.decode()
    assert f'hx-get="{reverse("node-firmware-updates", args=[node.pk])}"' in page


def test_the_panel_shows_state_progress_reason_and_local_times(client, engineer, node):
    image = _image()
    finished = datetime.datetime(2026, 1, 10, 11, 0, tzinfo=datetime.UTC)
    FirmwareUpdate.objects.create(
        node=node,
        image=image,
        method="push",
        target_version="1.5.0",
        state="failed",
        previous_version="1.4.0",
        version_read_back="1.4.0",
        reason="The BMC reported success but still runs 1.4.0 (expected 1.5.0).",
        finished_at=finished,
    )
    FirmwareUpdate.objects.create(
        node=node, image=image, method="simple", target_version="1.5.0", state="running", percent=40
    )
    client.force_login(engineer)
    html = client.get(reverse("node-firmware-updates", args=[node.pk])).content.decode()
    assert "BMC task running" in html and "40 %" in html
    assert "still runs 1.4.0 (expected 1.5.0)" in html
    assert "2026-01-10 12:00:00" in html  # 11:00 UTC in Paris
    assert 'hx-trigger="every 5s"' in html  # refreshes itself while one is in flight


def test_a_finished_history_does_not_poll(client, engineer, node):
    FirmwareUpdate.objects.create(
        node=node, image=_image(), method="push", target_version="1.5.0", state="succeeded"
    )
    client.force_login(engineer)
    html = client.get(reverse("node-firmware-updates", args=[node.pk])).content.decode()
    assert "Succeeded" in html and "every 5s" not in html
