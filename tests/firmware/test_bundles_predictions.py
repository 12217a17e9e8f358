"""On upload, every node of the bundle's SKU gets the PCRs it will measure with the bundle, or the
reason no prediction is possible."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.attestation import services as attestation_services
from apps.attestation.models import Attestation, FirmwareRelease
from apps.attestation.predict import predict
from apps.firmware.bundles import bundle_predict, bundle_store
from apps.lab.tpm.node import APPROVED_NICS, LAB_PROFILE, base_configuration, lab_release
from apps.lab.tpm.seed import seed_lab_nodes
from tests.factories import NodeFactory
from tests.firmware.bundle_kit import lab_release_bundle

pytestmark = pytest.mark.django_db


def upload(key, version="1.5.0", alter=None):
    bundle = lab_release_bundle(version)
    if alter:
        alter(bundle.manifest)
    return bundle_store(
        actor=None,
        manifest=bundle.manifest_bytes(),
        signature=bundle.signature(key),
        images=bundle.images,
    )


def quoted(pcrs):
    return {str(p): v for p, v in pcrs.items() if p < 8}


def test_lab_nodes_on_1_4_are_predicted_as_the_attestation_predicts_release_1_5(
    trusted, lab_reference, ed_key, site
):
    nodes = [NodeFactory(site=site) for _ in range(2)]
    seed_lab_nodes(nodes, version="1.4.0")
    control = NodeFactory(site=site)
    seed_lab_nodes([control], version="1.5.0")  # a node already on 1.5.0, as attestation sees it

    bundle = upload(ed_key)

    expected = quoted(attestation_services.node_prediction(control).pcrs["sha256"])
    # and what a lab TPM measures when it boots 1.5.0 with that configuration
    measured = predict(LAB_PROFILE, lab_release("1.5.0"), base_configuration()).pcrs["sha256"]
    assert expected == quoted(measured)
    today = quoted(attestation_services.node_prediction(nodes[0]).pcrs["sha256"])
    rows = {p.node_id: p for p in bundle.predictions.all()}
    assert set(rows) == {n.pk for n in (*nodes, control)}
    for node in nodes:
        row = rows[node.pk]
        assert row.pcrs == expected and row.reason == "" and row.reason_code == ""
        assert row.pcrs["0"] != today["0"]  # the firmware changes PCR0...
        assert {k: v for k, v in row.pcrs.items() if k != "0"} == {
            k: v for k, v in today.items() if k != "0"
        }  # ...and nothing its configuration measures
        # the approved variants (no card, each approved NIC) on the new release
        assert len(row.acceptable) == 1 + len(APPROVED_NICS)
        assert expected in row.acceptable
    assert bundle.predicted_at is not None


def test_a_node_of_the_sku_without_configuration_gets_the_reason(
    trusted, lab_reference, ed_key, site
):
    bare = NodeFactory(site=site, model="HS-EDGE-1")
    NodeFactory(site=site, model="HS-CP2")  # another SKU: not a target at all

    bundle = upload(ed_key)

    [row] = bundle.predictions.all()
    assert row.node == bare and row.pcrs is None
    assert row.reason_code == "no_configuration"
    assert "No firmware release and configuration are recorded" in row.reason


def test_a_node_whose_last_attestation_mismatched_cannot_be_predicted(
    trusted, lab_reference, ed_key, site
):
    node = NodeFactory(site=site)
    seed_lab_nodes([node])
    Attestation.objects.create(
        node=node,
        at=timezone.now() - timedelta(hours=1),
        verdict=Attestation.Verdict.MISMATCH,
        reason_code="pcr_values",
        reason="PCR2: an option ROM not in the approved set was loaded from PciRoot(0x0)",
    )

    [row] = upload(ed_key).predictions.all()

    assert row.pcrs is None and row.reason_code == "unapproved_variant"
    assert "option ROM not in the approved set" in row.reason

    Attestation.objects.create(node=node, at=timezone.now(), verdict=Attestation.Verdict.TRUSTED)
    bundle_predict(bundle=row.bundle)
    row.refresh_from_db()
    assert row.pcrs is not None and row.reason == ""


def test_a_bundle_whose_release_is_not_recorded_is_predicted_once_it_is(
    trusted, lab_reference, ed_key, site
):
    node = NodeFactory(site=site)
    seed_lab_nodes([node])

    def new_release(manifest):
        manifest["version"] = manifest["measurements"]["release"] = "1.6.0"

    bundle = upload(ed_key, alter=new_release)
    [row] = bundle.predictions.all()
    assert row.pcrs is None and row.reason_code == "missing_reference"
    assert "release 1.6.0" in row.reason

    template = lab_reference["1.5.0"].template
    FirmwareRelease.objects.create(
        profile=lab_reference["1.5.0"].profile, version="1.6.0", template=template
    )
    counts = bundle_predict(bundle=bundle)

    row.refresh_from_db()
    assert counts == {"predicted": 1, "impossible": 0}
    assert row.pcrs == quoted(
        predict(LAB_PROFILE, lab_release("1.5.0"), base_configuration()).pcrs["sha256"]
    )


def test_golden_pcr_values_alone_predict_no_other_node(trusted, lab_reference, ed_key, site):
    node = NodeFactory(site=site)
    seed_lab_nodes([node])

    def golden(manifest):
        manifest["measurements"] = {"source": "golden", "pcrs": {"0": "ab" * 32}}

    bundle = upload(ed_key, alter=golden)
    assert bundle.measurement_source == "golden" and bundle.golden_pcrs == {"0": "ab" * 32}
    [row] = bundle.predictions.all()
    assert row.pcrs is None and row.reason_code == "no_reference"
