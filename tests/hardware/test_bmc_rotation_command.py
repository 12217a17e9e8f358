"""`manage.py rotate_bmc_passwords [--site CODE | --node NAME]` against lab BMCs."""

import io

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent
from apps.hardware import rotation
from apps.hardware.drivers import ipmi
from apps.hardware.drivers.redfish import transport
from tests.factories import NodeFactory, SiteFactory
from tests.hardware.redfish_nodes import dual_lab_node

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab(make_dual_lab, settings):
    settings.BMC_TIMEOUT = 10.0  # bounds a broken run only
    lab = make_dual_lab(count=3)
    yield lab
    transport.close_all()
    ipmi.close_all()


def run(capsys, *args):
    """The command's exit code (Django exits with a `CommandError`'s ``returncode``), what it
    printed and what it complained of."""
    out = io.StringIO()
    try:
        call_command("rotate_bmc_passwords", *args, stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue(), str(error)
    return 0, out.getvalue(), ""


def test_one_node_is_rotated_and_audited_as_the_system(lab, capsys):
    node = dual_lab_node(lab, 0, bmc_protocol="ipmi")
    other = dual_lab_node(lab, 1, bmc_protocol="ipmi")
    code, out, _ = run(capsys, "--node", node.name)
    assert code == 0
    assert f"{node.name}: rotated" in out and "1 BMC password(s) rotated." in out
    node.refresh_from_db()
    other.refresh_from_db()
    assert node.bmc_password != "password" and other.bmc_password == "password"
    assert lab.bmc(0).password_for("admin") == node.bmc_password
    assert node.bmc_password not in out
    rows = AuditEvent.objects.filter(action=rotation.ACTION, target_id=str(node.pk))
    assert {(e.actor_name, e.result) for e in rows} == {("system", "pending"), ("system", "ok")}


def test_a_site_is_rotated_node_by_node_and_one_failure_makes_the_exit_code(lab, capsys):
    site = SiteFactory(code="LYO-1")
    ipmi_node = dual_lab_node(lab, 0, site=site, name="lyo-a", bmc_protocol="ipmi")
    redfish_node = dual_lab_node(
        lab, 1, site=site, name="lyo-b", bmc_protocol="redfish", accepted=True
    )
    elsewhere = dual_lab_node(lab, 2, name="par-a", bmc_protocol="ipmi")
    NodeFactory(site=site, name="lyo-no-bmc", bmc_host="")  # nothing to rotate there
    lab.bmc(1).faults.password_refused = True

    code, out, err = run(capsys, "--site", "LYO-1")
    assert code == 1
    assert "lyo-a: rotated" in out
    assert "lyo-b: FAILED — The BMC did not take the new password" in out
    assert "par-a" not in out and "lyo-no-bmc" not in out
    assert "1 of 2 node(s) not rotated; 1 rotated" in err
    for node in (ipmi_node, redfish_node, elsewhere):
        node.refresh_from_db()
    assert ipmi_node.bmc_password != "password"
    assert (redfish_node.bmc_password, redfish_node.bmc_rotation_state) == ("password", "failed")
    assert elsewhere.bmc_password == "password" and elsewhere.bmc_password_rotated_at is None


def test_an_interrupted_rotation_is_resumed_by_the_command(lab, capsys):
    from datetime import timedelta

    from django.utils import timezone

    from apps.core import crypto
    from apps.sites.models import Node

    node = dual_lab_node(lab, 0, bmc_protocol="ipmi")
    lab.bmc(0).authdata["admin"] = "Taken-Before-Kill1"  # the dead run had set it
    Node.objects.filter(pk=node.pk).update(
        bmc_password_pending_encrypted=crypto.encrypt("Taken-Before-Kill1"),
        bmc_rotation_state="pending",
        bmc_rotation_started_at=timezone.now() - rotation.lease() - timedelta(seconds=1),
    )
    code, out, _ = run(capsys, "--node", node.name)
    assert code == 0 and f"{node.name}: promoted" in out
    node.refresh_from_db()
    assert node.bmc_password == "Taken-Before-Kill1" and node.bmc_rotation_state == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["--site", "NOWHERE"], "No site with code 'NOWHERE'."),
        (["--node", "ghost"], "No node named 'ghost'."),
    ],
)
def test_an_unknown_site_or_node_is_a_clear_error(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 1 and message in err and out == ""
    assert not AuditEvent.objects.filter(action=rotation.ACTION).exists()


def test_site_and_node_together_are_refused(capsys):
    code, _, err = run(capsys, "--site", "A", "--node", "b")
    assert code == 1 and "not allowed with argument" in err
