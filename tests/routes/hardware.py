"""Power routes (issue 3): engineers only; admins manage, they do not press power buttons."""

from django.urls import reverse

from apps.hardware.models import PowerAction, PowerBatch
from apps.sites.models import Node
from tests.routes.common import API_HARDWARE, API_NODE, HARDWARE, LOGIN, Route, foreign, own

POWER_PAGE = {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 302, "admin": 403}
API_POWER = {"anonymous": 401, "partner": 404, "planner": 403, "engineer": 202, "admin": 403}
BIOS_PAGE = {"anonymous": LOGIN, "partner": 404, "planner": 403, "admin": 403}


def extra_objects(objects):
    batch = PowerBatch.objects.create(site=objects["site"], action="off")
    action = PowerAction.objects.create(
        node=objects["node"], kind="on", batch=batch, status=PowerAction.Status.SUCCEEDED
    )
    # a BMC certificate presented and not yet accepted, for the accept routes
    Node.objects.filter(pk=objects["node"].pk).update(bmc_cert_fingerprint="ab" * 32)
    return {"batch": batch, "action": action}


ROUTES: dict[str, Route] = {
    "node-power-confirm": Route(
        lambda o: reverse("node-power-confirm", args=[o["node"].pk]) + "?action=off",
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 200, "admin": 403},
    ),
    "node-power": Route(
        own("node-power", "node"), POWER_PAGE, method="post", data={"action": "on"}
    ),
    "node-boot-device": Route(
        own("node-boot-device", "node"), POWER_PAGE, method="post", data={"device": "network"}
    ),
    "node-refresh": Route(
        own("node-refresh", "node"),
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 302, "admin": 302},
        method="post",
    ),
    "node-actions": Route(
        own("node-actions", "node"),
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 200, "admin": 200},
    ),
    "site-power-confirm": Route(
        lambda o: reverse("site-power-confirm", args=[o["site"].pk]) + "?action=off",
        {"anonymous": LOGIN, "partner": 403, "planner": 403, "engineer": 200, "admin": 403},
        foreign=lambda o: reverse("site-power-confirm", args=[o["other_site"].pk]) + "?action=off",
    ),
    "site-power": Route(
        own("site-power"),
        {"anonymous": LOGIN, "partner": 403, "planner": 403, "engineer": 302, "admin": 403},
        method="post",
        data={"action": "off"},
        foreign=foreign("site-power"),
    ),
    "power-batch": Route(own("power-batch", "batch"), HARDWARE),
    "api:node-power": Route(
        own("api:node-power", "node"), API_POWER, method="post", data={"action": "on"}
    ),
    "api:node-boot-device": Route(
        own("api:node-boot-device", "node"), API_POWER, method="post", data={"device": "network"}
    ),
    "api:site-power": Route(
        own("api:site-power"),
        {"anonymous": 401, "partner": 403, "planner": 403, "engineer": 202, "admin": 403},
        method="post",
        data={"action": "off"},
        foreign=foreign("api:site-power"),
    ),
    "node-bmc-certificate-accept": Route(
        own("node-bmc-certificate-accept", "node"),
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 302, "admin": 302},
        method="post",
        data={"fingerprint": "ab" * 32},
    ),
    "api:node-bmc-certificate-accept": Route(
        own("api:node-bmc-certificate-accept", "node"),
        API_NODE,
        method="post",
        data={"fingerprint": "ab" * 32},
    ),
    "api:node-refresh": Route(
        own("api:node-refresh", "node"), API_NODE | {"engineer": 202, "admin": 202}, method="post"
    ),
    "api:node-firmware": Route(own("api:node-firmware", "node"), API_NODE),
    "api:node-bios": Route(own("api:node-bios", "node"), API_NODE),
    "api:node-bmc-log": Route(own("api:node-bmc-log", "node"), API_NODE),
    # BIOS changes: engineers only (admins manage, they do not configure BMCs); nothing read
    # yet on this node, so the engineer's diff and change are form errors (400)
    "node-bios-edit": Route(own("node-bios-edit", "node"), BIOS_PAGE | {"engineer": 200}),
    "node-bios-diff": Route(
        own("node-bios-diff", "node"),
        BIOS_PAGE | {"engineer": 400},
        method="post",
        data={"attr:BootMode": "Legacy"},
    ),
    "node-bios-change": Route(
        own("node-bios-change", "node"),
        BIOS_PAGE | {"engineer": 400},
        method="post",
        data={"changes": '{"BootMode": "Legacy"}'},
    ),
    # BMC password rotation: engineers only (admins manage, they do not configure BMCs)
    "node-bmc-password": Route(
        own("node-bmc-password", "node"),
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 200, "admin": 200},
    ),
    "node-bmc-password-confirm": Route(
        own("node-bmc-password-confirm", "node"), POWER_PAGE | {"engineer": 200}
    ),
    "node-bmc-password-rotate": Route(
        own("node-bmc-password-rotate", "node"), POWER_PAGE, method="post"
    ),
    "api:node-bmc-password-rotate": Route(
        own("api:node-bmc-password-rotate", "node"), API_POWER, method="post"
    ),
    "api:power-action-list": Route(lambda o: reverse("api:power-action-list"), API_HARDWARE),
    "api:power-action-detail": Route(own("api:power-action-detail", "action"), API_NODE),
    "api:power-batch-detail": Route(own("api:power-batch-detail", "batch"), API_HARDWARE),
}
