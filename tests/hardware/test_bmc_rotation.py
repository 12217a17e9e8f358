"""BMC password rotation against lab BMCs over the real protocols (IPMI over UDP, Redfish over
HTTPS): set, verified by a fresh login, stored only then; refusals; resuming a killed run."""

import json
import logging
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core import crypto
from apps.hardware import rotation
from apps.hardware.drivers import BmcEndpoint, BmcError, driver_for, ipmi
from apps.hardware.drivers.redfish import transport
from apps.hardware.protocols import endpoint_for
from apps.sites.models import Node
from apps.sites.services import credentials_rotate
from tests.hardware.redfish_nodes import dual_lab_node

pytestmark = pytest.mark.django_db

SET_USER_PASSWORD = (0x06, 0x47)


@pytest.fixture
def lab(make_dual_lab, settings):
    settings.BMC_TIMEOUT = 10.0  # bounds a broken run only; the lab answers in milliseconds
    lab = make_dual_lab(count=2)
    yield lab
    transport.close_all()
    ipmi.close_all()


def lab_node(lab, protocol: str, index: int = 0) -> Node:
    if protocol == "auto":
        node = dual_lab_node(lab, index, accepted=True, bmc_protocol="auto")
        Node.objects.filter(pk=node.pk).update(bmc_protocol_detected="redfish")
        node.refresh_from_db()
        return node
    return dual_lab_node(lab, index, accepted=protocol == "redfish", bmc_protocol=protocol)


def logs_in(lab, password: str, face: str, index: int = 0) -> bool:
    """A fresh login with ``password`` on one face of lab BMC ``index``, as a client would."""
    if face == "ipmi":
        endpoint = lab.ipmi.endpoint(index, password=password)
    else:
        rf = lab.redfish.endpoint(index)
        endpoint = BmcEndpoint(
            host=rf.host, port=rf.port, username=rf.username, password=password,
            protocol="redfish", tls_fingerprint=rf.fingerprint,
        )  # fmt: skip
    try:
        driver_for(endpoint, timeout=10).power_state()
    except BmcError as error:
        assert error.cause == "bad_credentials", error
        return False
    return True


def died_after_storing(node: Node, password: str) -> None:
    """What a run killed after step 1 leaves: the pending password stored, its lease lapsed."""
    Node.objects.filter(pk=node.pk).update(
        bmc_password_pending_encrypted=crypto.encrypt(password),
        bmc_rotation_state="pending",
        bmc_rotation_started_at=timezone.now() - rotation.lease() - timedelta(seconds=1),
    )
    node.refresh_from_db()


def events(node: Node) -> list[tuple[str, str]]:
    rows = AuditEvent.objects.filter(action=rotation.ACTION, target_id=str(node.pk))
    return [(e.result, e.detail.get("step", "")) for e in rows.order_by("id")]


def test_a_generated_password_fits_every_bmc_and_is_never_the_same():
    seen = {rotation.password_generate(username="admin") for _ in range(200)}
    assert len(seen) == 200
    for password in seen:
        assert len(password.encode()) == 16  # IPMI's 16-byte form, and 8-20 on Redfish BMCs
        assert set(password) <= set(rotation.ALPHABET)
        assert all(any(c in group for c in password) for group in rotation.CLASSES)
        assert not any(
            a == b == c for a, b, c in zip(password, password[1:], password[2:], strict=False)
        )
        assert "admin" not in password.lower()


@pytest.mark.parametrize("protocol", ["ipmi", "redfish", "auto"])
def test_rotation_changes_the_bmc_password_and_stores_it_once_it_logs_in(lab, protocol):
    node = lab_node(lab, protocol)
    old = node.bmc_password
    result = rotation.bmc_password_rotate(node=node, actor=None)
    assert (result.outcome, result.ok) == ("rotated", True), result.message
    node.refresh_from_db()
    new = node.bmc_password
    assert new != old and len(new) == rotation.PASSWORD_LENGTH
    assert lab.bmc(0).password_for(node.bmc_username) == new
    assert (node.bmc_password_pending_encrypted, node.bmc_rotation_state) == ("", "")
    assert node.bmc_rotation_error == "" and node.bmc_password_rotated_at is not None
    for face in ("ipmi", "redfish"):  # the lab BMC's faces share the one account
        assert logs_in(lab, new, face)
        assert not logs_in(lab, old, face)
    assert events(node) == [("pending", "start"), ("ok", "done")]
    # the other lab BMC was not touched
    assert lab.bmc(1).password_for(node.bmc_username) == old


@pytest.mark.parametrize("protocol", ["ipmi", "redfish"])
def test_a_bmc_that_refuses_the_change_leaves_the_node_flagged_and_the_old_password_working(
    lab, protocol
):
    node = lab_node(lab, protocol)
    old = node.bmc_password
    lab.bmc(0).faults.password_refused = True
    result = rotation.bmc_password_rotate(node=node, actor=None)
    assert result.outcome == "failed"
    node.refresh_from_db()
    assert node.bmc_password == old
    assert node.bmc_rotation_state == "failed"
    assert node.bmc_rotation_error.startswith("The BMC did not take the new password")
    assert "stored password is unchanged" in node.bmc_rotation_error
    assert lab.bmc(0).password_for(node.bmc_username) == old
    assert logs_in(lab, old, protocol)
    assert events(node) == [("pending", "start"), ("failed", "done")]
    # once the BMC allows it, the next rotation completes with the password kept pending
    pending = node.bmc_password_pending
    lab.bmc(0).faults.password_refused = False
    Node.objects.filter(pk=node.pk).update(
        bmc_rotation_started_at=timezone.now() - rotation.lease()
    )
    assert rotation.bmc_password_rotate(node=node, actor=None).outcome == "rotated"
    node.refresh_from_db()
    assert node.bmc_password == pending and node.bmc_rotation_state == ""


@pytest.mark.parametrize("protocol", ["ipmi", "redfish"])
def test_a_password_the_bmc_says_it_took_but_does_not_log_in_is_never_stored(lab, protocol):
    node = lab_node(lab, protocol)
    old = node.bmc_password
    lab.bmc(0).faults.password_ignored = True
    result = rotation.bmc_password_rotate(node=node, actor=None)
    assert result.outcome == "failed"
    node.refresh_from_db()
    assert node.bmc_password == old and logs_in(lab, old, protocol)
    assert "does not log in" in node.bmc_rotation_error
    assert node.bmc_password_pending not in ("", old)  # kept: the next run tries it first


@pytest.mark.parametrize("protocol", ["ipmi", "redfish"])
def test_a_run_killed_after_the_bmc_took_the_password_is_promoted_without_a_second_change(
    lab, protocol
):
    node = lab_node(lab, protocol)
    new = rotation.password_generate()
    died_after_storing(node, new)
    driver_for(endpoint_for(node), timeout=10).set_account_password(node.bmc_username, new)
    sets = lab.bmc(0).request_count(*SET_USER_PASSWORD)
    lab.bmc(0).faults.password_refused = True  # a second change would fail the rotation

    result = rotation.bmc_password_rotate(node=node, actor=None)
    assert result.outcome == "promoted", result.message
    node.refresh_from_db()
    assert node.bmc_password == new and node.bmc_password_pending_encrypted == ""
    assert node.bmc_rotation_state == ""
    assert lab.bmc(0).request_count(*SET_USER_PASSWORD) == sets
    assert lab.bmc(0).password_for(node.bmc_username) == new
    assert AuditEvent.objects.filter(
        action=rotation.ACTION, target_id=str(node.pk), detail__outcome="promoted"
    ).exists()


def test_a_run_killed_before_it_reached_the_bmc_is_resumed_with_the_same_password(lab):
    node = lab_node(lab, "ipmi")
    new = rotation.password_generate()
    died_after_storing(node, new)
    sets = lab.bmc(0).request_count(*SET_USER_PASSWORD)

    result = rotation.bmc_password_rotate(node=node, actor=None)
    assert result.outcome == "rotated", result.message
    node.refresh_from_db()
    assert node.bmc_password == new  # the stored pending one, not another new one
    assert lab.bmc(0).request_count(*SET_USER_PASSWORD) == sets + 1
    assert lab.bmc(0).password_for(node.bmc_username) == new


def test_when_neither_stored_password_logs_in_both_are_kept_and_the_node_flagged(lab):
    node = lab_node(lab, "ipmi")
    old, new = node.bmc_password, rotation.password_generate()
    died_after_storing(node, new)
    lab.bmc(0).authdata[node.bmc_username] = "someone-else-1"  # changed behind Heatsite's back

    result = rotation.bmc_password_rotate(node=node, actor=None)
    assert result.outcome == "failed"
    node.refresh_from_db()
    assert (node.bmc_password, node.bmc_password_pending) == (old, new)
    assert node.bmc_rotation_state == "failed"
    assert "takes neither the stored password nor the pending one" in node.bmc_rotation_error


def test_a_second_run_while_the_first_holds_the_lease_is_refused(lab):
    node = lab_node(lab, "ipmi")
    Node.objects.filter(pk=node.pk).update(
        bmc_rotation_state="pending", bmc_rotation_started_at=timezone.now()
    )
    node.refresh_from_db()
    assert rotation.bmc_rotation_busy(node)
    with pytest.raises(rotation.RotationBusy) as caught:
        rotation.bmc_password_rotate(node=node, actor=None)
    assert "already in progress" in str(caught.value)
    assert caught.value.retry_at > timezone.now()
    node.refresh_from_db()
    assert node.bmc_password == "password" and node.bmc_password_pending_encrypted == ""


def test_a_node_without_credentials_is_refused_and_says_why(lab):
    node = lab_node(lab, "ipmi")
    Node.objects.filter(pk=node.pk).update(bmc_password_encrypted="")
    result = rotation.bmc_password_rotate(node=node, actor=None)
    assert result.outcome == "failed" and "no stored BMC password" in result.message
    assert events(node) == [("refused", "")]


def test_only_engineers_may_rotate(lab, admin_user, planner, engineer):
    node = lab_node(lab, "ipmi")
    for user in (admin_user, planner):
        with pytest.raises(PermissionDenied):
            rotation.bmc_password_rotate(node=node, actor=user)
    assert rotation.bmc_password_rotate(node=node, actor=engineer).ok
    assert AuditEvent.objects.filter(action=rotation.ACTION, actor=engineer).count() == 2


def test_neither_password_reaches_a_log_line_or_the_audit_trail(lab, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("pyghmi", "sushy", "urllib3", "apps"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    old = "Old-Secret-41x"  # not a word of any message, unlike the lab's default
    for index in (0, 1):
        lab.bmc(index).authdata["admin"] = old
    ipmi_node = lab_node(lab, "ipmi", 0)
    redfish_node = lab_node(lab, "redfish", 1)
    for node in (ipmi_node, redfish_node):
        node.set_bmc_password(old)
        node.save(update_fields=["bmc_password_encrypted"])
    caplog.clear()  # what the test's own setup logged (factory_boy logs field values)
    assert rotation.bmc_password_rotate(node=ipmi_node, actor=None).ok
    assert rotation.bmc_password_rotate(node=redfish_node, actor=None).ok
    lab.bmc(1).faults.password_ignored = True  # a failure too, with its reason
    Node.objects.filter(pk=redfish_node.pk).update(bmc_rotation_started_at=None)
    assert not rotation.bmc_password_rotate(node=redfish_node, actor=None).ok
    ipmi_node.refresh_from_db()
    redfish_node.refresh_from_db()
    passwords = {
        old,
        ipmi_node.bmc_password,
        redfish_node.bmc_password,
        redfish_node.bmc_password_pending,
    }
    assert len(passwords) == 4 and "" not in passwords, passwords
    assert any(r.name.startswith("apps.hardware.rotation") for r in caplog.records)
    logged = "\n".join(
        [caplog.text]
        + [str(r.args) for r in caplog.records]
        + [r.getMessage() for r in caplog.records]
    )
    trail = json.dumps(list(AuditEvent.objects.values("detail", "target_repr")))
    for password in passwords:
        assert password not in logged
        assert password not in trail


def test_rotating_the_encryption_keys_re_encrypts_a_pending_password(settings):
    from cryptography.fernet import Fernet

    from tests.factories import NodeFactory

    node = NodeFactory()
    died_after_storing(node, "pending-Pw-1")
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode(), *settings.CREDENTIAL_KEYS]
    assert credentials_rotate() == 1
    settings.CREDENTIAL_KEYS = settings.CREDENTIAL_KEYS[:1]  # the old key removed
    node.refresh_from_db()
    assert (node.bmc_password, node.bmc_password_pending) == ("password", "pending-Pw-1")


def test_an_unreachable_bmc_fails_the_rotation_without_claiming_what_it_holds(lab, settings):
    settings.BMC_TIMEOUT = 2.0  # how long the silent BMC is waited for
    node = lab_node(lab, "ipmi")
    lab.bmc(0).faults.unreachable = True
    result = rotation.bmc_password_rotate(node=node, actor=None)
    assert result.outcome == "failed"
    assert result.message.startswith("Setting the new password failed (")
    assert "the BMC may have it" in result.message
    node.refresh_from_db()
    pending = node.bmc_password_pending
    assert node.bmc_password == "password" and pending not in ("", "password")

    # resumed while still silent: nothing is decided, both stay stored
    Node.objects.filter(pk=node.pk).update(bmc_rotation_started_at=None)
    result = rotation.bmc_password_rotate(node=node, actor=None)
    assert result.outcome == "failed" and "cannot be asked which one it takes" in result.message
    assert "No answer from" in result.message
    assert "neither" not in result.message and "Both passwords are kept" in result.message
    node.refresh_from_db()
    assert (node.bmc_password, node.bmc_password_pending) == ("password", pending)

    # back on the network, the next run sets the kept password
    lab.bmc(0).faults.unreachable = False
    settings.BMC_TIMEOUT = 10.0  # bounds a broken run only (2 s measured the machine under load)
    Node.objects.filter(pk=node.pk).update(bmc_rotation_started_at=None)
    assert rotation.bmc_password_rotate(node=node, actor=None).outcome == "rotated"
    node.refresh_from_db()
    assert node.bmc_password == pending == lab.bmc(0).password_for("admin")


def test_an_inventory_edit_never_writes_back_a_password_a_rotation_replaced(engineer):
    from apps.sites.services import node_save
    from tests.factories import NodeFactory

    node = NodeFactory()
    stale = Node.objects.get(pk=node.pk)  # an edit form loaded before the rotation ended
    Node.objects.filter(pk=node.pk).update(
        bmc_password_encrypted=crypto.encrypt("Rotated-Pw-22"),
        bmc_password_rotated_at=timezone.now(),
    )
    node_save(actor=engineer, data={"rack_position": "R9-U1"}, node=stale)
    node.refresh_from_db()
    assert (node.rack_position, node.bmc_password) == ("R9-U1", "Rotated-Pw-22")
    assert node.bmc_password_rotated_at is not None


def test_a_password_set_by_hand_is_refused_during_a_rotation_and_ends_a_failed_ones_pending(
    engineer,
):
    from rest_framework.test import APIClient

    from tests.factories import NodeFactory

    node = NodeFactory()
    api = APIClient()
    api.force_authenticate(engineer)
    url = f"/api/v1/nodes/{node.pk}/"
    Node.objects.filter(pk=node.pk).update(
        bmc_password_pending_encrypted=crypto.encrypt("Pending-Pw-33"),
        bmc_rotation_state="pending",
        bmc_rotation_started_at=timezone.now(),
    )
    answer = api.patch(url, {"bmc_password": "Typed-Pw-44"}, format="json")
    assert answer.status_code == 400 and "in progress" in answer.json()["bmc_password"][0]
    node.refresh_from_db()
    assert node.bmc_password == "password"

    Node.objects.filter(pk=node.pk).update(bmc_rotation_state="failed")
    assert api.patch(url, {"bmc_password": "Typed-Pw-44"}, format="json").status_code == 200
    node.refresh_from_db()
    assert (node.bmc_password, node.bmc_password_pending_encrypted) == ("Typed-Pw-44", "")
    assert node.bmc_rotation_state == ""


def test_a_session_another_thread_opened_with_the_old_password_is_not_reused_for_the_new(
    lab, monkeypatch
):
    old_endpoint = lab.ipmi.endpoint(0)
    driver_for(old_endpoint, timeout=10).power_state()
    stale = ipmi._cache.pop(old_endpoint.key)  # logged in with the old password
    assert stale.usable and stale.password == old_endpoint.password
    lab.bmc(0).authdata["admin"] = "Rotated-Pw-55"
    real_login = ipmi._login

    def login_while_another_thread_caches_the_old_session(endpoint, budget):
        cmd = real_login(endpoint, budget)
        ipmi._cache[endpoint.key] = stale  # that other thread finished first
        return cmd

    monkeypatch.setattr(ipmi, "_login", login_while_another_thread_caches_the_old_session)
    driver = ipmi.IpmiDriver(lab.ipmi.endpoint(0, password="Rotated-Pw-55"), timeout=10)
    entry, reused = driver._session(10)
    assert (entry.password, reused) == ("Rotated-Pw-55", False)
    assert ipmi._cache[old_endpoint.key] is entry
    assert not stale.usable  # thrown away, not kept beside the new one
