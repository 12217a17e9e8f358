"""Attestation routes (issue 5): node pages and API for engineers and admins; partners never
reach a node (404); planners see the site indicator only, so node and release pages are 403."""

from django.urls import reverse
from django.utils import timezone

from apps.attestation.models import Attestation, FirmwareRelease
from apps.lab.tpm.seed import seed_lab_nodes
from tests.routes.common import API_NODE, LOGIN, Route, own

NODE_PAGE = {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 200, "admin": 200}
NODE_POST = {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 302, "admin": 302}
RELEASE_PAGE = {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 200, "admin": 200}


def extra_objects(objects):
    seed_lab_nodes([objects["node"]])
    attestation = Attestation.objects.create(
        node=objects["node"],
        at=timezone.now(),
        verdict="mismatch",
        reason_code="boot_order",
        reason="PCR1: BootOrder changed",
        divergences=[{"pcr": 1, "kind": "boot_order", "message": "PCR1: BootOrder changed"}],
    )
    return {"attestation": attestation, "release": FirmwareRelease.objects.order_by("pk").first()}


ROUTES: dict[str, Route] = {
    "node-attestation": Route(own("node-attestation", "node"), NODE_PAGE),
    "node-attest": Route(own("node-attest", "node"), NODE_POST, method="post"),
    "node-enrol": Route(own("node-enrol", "node"), NODE_POST, method="post"),
    "attestation-detail": Route(own("attestation-detail", "attestation"), NODE_PAGE),
    "firmware-releases": Route(
        lambda o: reverse("firmware-releases"),
        {"anonymous": LOGIN, "partner": 403, "planner": 403, "engineer": 200, "admin": 200},
    ),
    "firmware-release": Route(own("firmware-release", "release"), RELEASE_PAGE),
    "api:node-attestation": Route(own("api:node-attestation", "node"), API_NODE),
    "api:node-attestation-prediction": Route(
        own("api:node-attestation-prediction", "node"), API_NODE
    ),
}
