"""BMC accounts over Redfish: set an account's password through ``AccountService``.

The account is found by ``UserName`` among ``AccountService/Accounts``; the password is checked
against the service's ``MinPasswordLength``/``MaxPasswordLength`` before it is sent, and sent
only in the PATCH body (sushy's request log masks it). No message here ever contains it.
"""

from __future__ import annotations

from apps.hardware.drivers.base import BmcError
from apps.hardware.drivers.redfish import readings
from apps.hardware.drivers.redfish.readings import get_optional, link, root
from apps.hardware.drivers.redfish.transport import Client


def check_password(username: object, password: object) -> None:
    if not isinstance(username, str) or not username:
        raise BmcError("bad_request", "Name the BMC account whose password is to change.")
    if not isinstance(password, str) or not password or not password.isprintable():
        raise BmcError("bad_request", "A BMC password is non-empty printable text.")


def set_password(client: Client, username: str, password: str) -> None:
    service = get_optional(client, link(root(client), "AccountService"))
    if service is None:
        raise BmcError("not_supported", "The BMC has no AccountService.")
    low, high = service.get("MinPasswordLength"), service.get("MaxPasswordLength")
    if (isinstance(low, int) and len(password) < low) or (
        isinstance(high, int) and len(password) > high
    ):
        raise BmcError(
            "bad_request",
            f"The BMC takes passwords of {low or 1} to {high or 'any number of'} characters.",
        )
    for account in readings.members(client, link(service, "Accounts")):
        if account.get("UserName") == username and account.get("@odata.id"):
            etag = account.get("@odata.etag")
            client.connector.patch(
                account["@odata.id"],
                data={"Password": password},
                headers={"If-Match": str(etag)} if etag else None,
            )
            return
    raise BmcError("bad_request", f"The BMC has no account named {username!r}.")
