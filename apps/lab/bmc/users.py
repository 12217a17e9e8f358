"""The lab BMC's IPMI user commands: Get User Access, Get User Name, Set User Password.

Slot 1 is the anonymous user (empty, disabled), slot 2 the configured account: the one the
Redfish face's ``AccountService/Accounts/1`` shows, with the same password (``authdata``), so a
password set over either face is the one both check.
"""

from __future__ import annotations

ADMIN_SLOT = 2
MAX_SLOTS = 16
CC_INVALID_DATA = 0xCC
CC_PASSWORD_MISMATCH = 0x80
CC_PASSWORD_SIZE = 0x81
CC_INSUFFICIENT_PRIVILEGE = 0xD4


class UserAccountsMixin:
    """Mixed into `LabBmc`: needs ``username`` and ``authdata``."""

    username: str
    authdata: dict[str, str]

    def _get_user_access(self, data, session):
        slot = data[1] & 0x3F
        if not 1 <= slot <= MAX_SLOTS:
            session.send_ipmi_response(code=CC_INVALID_DATA)
            return
        # 1 enabled user; slot 2: link auth + IPMI messaging + administrator, others: no access
        access = 0x34 if slot == ADMIN_SLOT else 0x0F
        enabled = 0x40 if slot == ADMIN_SLOT else 0x80
        session.send_ipmi_response(data=[MAX_SLOTS, enabled | 1, 0, access])

    def _get_user_name(self, data, session):
        slot = data[0] & 0x3F
        if not 1 <= slot <= MAX_SLOTS:
            session.send_ipmi_response(code=CC_INVALID_DATA)
            return
        name = self.username.encode() if slot == ADMIN_SLOT else b""
        session.send_ipmi_response(data=name[:16].ljust(16, b"\x00"))

    def _set_user_password(self, data, session):
        slot, twenty, operation = data[0] & 0x3F, bool(data[0] & 0x80), data[1] & 0x03
        if operation in (0, 1):  # disable / enable: the lab's one account stays enabled
            session.send_ipmi_response()
            return
        size = 20 if twenty else 16
        if len(data) != 2 + size:
            session.send_ipmi_response(code=CC_INVALID_DATA)
            return
        if slot != ADMIN_SLOT:
            session.send_ipmi_response(code=CC_INVALID_DATA)
            return
        password = bytes(data[2:]).rstrip(b"\x00")
        try:
            text = password.decode("utf-8")
        except UnicodeDecodeError:
            session.send_ipmi_response(code=CC_INVALID_DATA)
            return
        if operation == 2:  # set password
            faults = getattr(self, "faults", None)
            if faults is not None and faults.password_refused:
                session.send_ipmi_response(code=CC_INSUFFICIENT_PRIVILEGE)
                return
            if faults is None or not faults.password_ignored:
                self.authdata[self.username] = text
            session.send_ipmi_response()
            return
        stored = self.authdata.get(self.username, "")  # 3: test password
        if len(stored.encode()) > size:
            session.send_ipmi_response(code=CC_PASSWORD_SIZE)
        elif stored != text:
            session.send_ipmi_response(code=CC_PASSWORD_MISMATCH)
        else:
            session.send_ipmi_response()
