"""What each role may do: a pure table, no database, no requests.

Every path (page, htmx fragment, API, websocket, export, admin, task) asks `allows()` through
`apps.accounts.access`; nothing else decides who may do what.
"""

from enum import StrEnum

from apps.accounts.models import Role


class Action(StrEnum):
    VIEW_SITE = "view_site"  # a site's whitelisted summary: name, status, heat, availability
    VIEW_HEAT = "view_heat"  # heat delivered, temperatures, statements, live heat
    VIEW_HARDWARE = "view_hardware"  # nodes, meters, BMC, serials, firmware, address
    VIEW_ATTESTATION = "view_attestation"  # per-node attestation badges and explanations
    VIEW_TRUST_SUMMARY = "view_trust_summary"  # one site-level "machines verified" indicator
    VIEW_ALARMS = "view_alarms"  # engineering alarms
    VIEW_AUDIT = "view_audit"
    POWER_CONTROL = "power_control"
    OPEN_CONSOLE = "open_console"
    MANAGE_FIRMWARE = "manage_firmware"
    CONFIGURE_BMC = "configure_bmc"  # BIOS settings, BMC account passwords (engineers only)
    MANAGE_INVENTORY = "manage_inventory"  # create and update sites, nodes, meters
    MANAGE_USERS = "manage_users"
    COMPARE_SITES = "compare_sites"
    MANAGE_CONTACTS = "manage_contacts"  # who at the partner receives the monthly statement
    MANAGE_GATEWAYS = "manage_gateways"  # enrol and revoke site gateways (engineers)


_READ_ALL = {
    Action.VIEW_SITE,
    Action.VIEW_HEAT,
    Action.VIEW_HARDWARE,
    Action.VIEW_ATTESTATION,
    Action.VIEW_TRUST_SUMMARY,
    Action.VIEW_ALARMS,
}

POLICY: dict[str, frozenset[Action]] = {
    Role.PARTNER: frozenset(
        {Action.VIEW_SITE, Action.VIEW_HEAT, Action.VIEW_TRUST_SUMMARY, Action.MANAGE_CONTACTS}
    ),
    Role.ENGINEER: frozenset(
        _READ_ALL
        | {
            Action.POWER_CONTROL,
            Action.OPEN_CONSOLE,
            Action.MANAGE_FIRMWARE,
            Action.CONFIGURE_BMC,
            Action.MANAGE_INVENTORY,
            Action.MANAGE_GATEWAYS,
            Action.VIEW_AUDIT,
        }
    ),
    Role.PLANNER: frozenset(
        {Action.VIEW_SITE, Action.VIEW_HEAT, Action.VIEW_TRUST_SUMMARY, Action.COMPARE_SITES}
    ),
    Role.ADMIN: frozenset(
        _READ_ALL
        | {
            Action.MANAGE_INVENTORY,
            Action.MANAGE_USERS,
            Action.MANAGE_FIRMWARE,
            Action.VIEW_AUDIT,
            Action.COMPARE_SITES,
        }
    ),
}

# Fields of a site a partner may see. A whitelist: a new model field stays hidden until added.
PARTNER_SITE_FIELDS = frozenset(
    {
        "id",
        "code",
        "name",
        "city",
        "region",
        "status",
        "heat_network",
        "contract_min_supply_c",
        "nominal_capacity_kw",
        "timezone",
        "partner",
    }
)


# The API-token scope an action needs (a token's scopes nest: operate ⊃ write ⊃ read). Anything
# that touches a machine (power, console, BIOS/BMC, firmware) needs operate.
SCOPES = ("read", "write", "operate")
_OPERATE = {
    Action.POWER_CONTROL,
    Action.OPEN_CONSOLE,
    Action.MANAGE_FIRMWARE,
    Action.CONFIGURE_BMC,
    Action.MANAGE_GATEWAYS,
}
_WRITE = {Action.MANAGE_INVENTORY, Action.MANAGE_USERS}


def scope_needed(action: Action) -> str:
    """The token scope `action` needs: read, write or operate."""
    if action in _OPERATE:
        return "operate"
    if action in _WRITE:
        return "write"
    return "read"


def grantable_scopes(role: str) -> tuple[str, ...]:
    """The scopes a token of `role` may carry: up to the highest any of its actions needs.
    Partners and planners: read only, whatever else their role may do in the console."""
    if role in (Role.PARTNER, Role.PLANNER):
        return ("read",)
    needed = {scope_needed(a) for a in POLICY.get(role, frozenset())} | {"read"}
    top = max(SCOPES.index(s) for s in needed)
    return SCOPES[: top + 1]


def allows(role: str, action: Action) -> bool:
    """True when `role` may perform `action` (on objects it can reach)."""
    return action in POLICY.get(role, frozenset())
