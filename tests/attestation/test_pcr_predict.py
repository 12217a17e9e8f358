"""``manage.py pcr_predict --node NAME``."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.attestation.predict import predict
from apps.lab.tpm.node import LAB_PROFILE, base_configuration, lab_release
from apps.lab.tpm.seed import seed_lab_nodes

pytestmark = pytest.mark.django_db


def _run(*args):
    out = io.StringIO()
    call_command("pcr_predict", *args, stdout=out)
    return out.getvalue()


def test_prints_the_predicted_pcrs_and_the_event_sequence(node):
    seed_lab_nodes([node])
    expected = predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration())
    out = _run("--node", node.name)
    for pcr, value in expected.pcrs["sha256"].items():
        assert f"PCR{pcr}: {value}" in out
    assert f"event sequence ({len(expected.events)} measured events)" in out
    assert "EV_EFI_BOOT_SERVICES_APPLICATION \\EFI\\heatsite\\loader.efi" in out


def test_json_output_matches_the_model(node):
    seed_lab_nodes([node])
    expected = predict(LAB_PROFILE, lab_release("1.4.0"), base_configuration())
    body = json.loads(_run("--node", node.name, "--json"))
    assert body["pcrs"]["sha256"] == {str(p): v for p, v in expected.pcrs["sha256"].items()}
    assert len(body["events"]) == len(expected.events)


def test_unknown_node_is_a_command_error(db):
    with pytest.raises(CommandError, match="no node named 'nope'"):
        _run("--node", "nope")


def test_node_without_configuration_is_a_command_error(node):
    with pytest.raises(CommandError, match="no firmware release and configuration"):
        _run("--node", node.name)
