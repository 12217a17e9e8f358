"""The role × action table, spelled out: changing the policy must change this test."""

import pytest

from apps.accounts.models import Role
from apps.accounts.policy import POLICY, Action, allows

A = Action
EXPECTED = {
    Role.PARTNER: {A.VIEW_SITE, A.VIEW_HEAT, A.VIEW_TRUST_SUMMARY, A.MANAGE_CONTACTS},
    Role.PLANNER: {A.VIEW_SITE, A.VIEW_HEAT, A.VIEW_TRUST_SUMMARY, A.COMPARE_SITES},
    Role.ENGINEER: {
        A.VIEW_SITE,
        A.VIEW_HEAT,
        A.VIEW_HARDWARE,
        A.VIEW_ATTESTATION,
        A.VIEW_TRUST_SUMMARY,
        A.VIEW_ALARMS,
        A.VIEW_AUDIT,
        A.POWER_CONTROL,
        A.OPEN_CONSOLE,
        A.MANAGE_FIRMWARE,
        A.CONFIGURE_BMC,
        A.MANAGE_INVENTORY,
        A.MANAGE_GATEWAYS,
    },
    Role.ADMIN: {
        A.VIEW_SITE,
        A.VIEW_HEAT,
        A.VIEW_HARDWARE,
        A.VIEW_ATTESTATION,
        A.VIEW_TRUST_SUMMARY,
        A.VIEW_ALARMS,
        A.VIEW_AUDIT,
        A.MANAGE_FIRMWARE,
        A.MANAGE_INVENTORY,
        A.MANAGE_USERS,
        A.COMPARE_SITES,
    },
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_role_action_matrix(role, action):
    assert allows(role, action) is (action in EXPECTED[role])


def test_every_role_is_in_the_policy():
    assert set(POLICY) == set(Role)


def test_unknown_role_may_do_nothing():
    assert not any(allows("intruder", action) for action in Action)


def test_only_engineers_control_power_and_consoles():
    for action in (A.POWER_CONTROL, A.OPEN_CONSOLE):
        assert [role for role in Role if allows(role, action)] == [Role.ENGINEER]


def test_partners_never_see_hardware_or_engineering_alarms():
    for action in (A.VIEW_HARDWARE, A.VIEW_ATTESTATION, A.VIEW_ALARMS, A.VIEW_AUDIT):
        assert not allows(Role.PARTNER, action)
