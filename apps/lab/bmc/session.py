"""RMCP+ server session for lab BMCs, on top of pyghmi's ``ServerSession``.

pyghmi's server side only speaks cipher suite 3 and answers every proposal with it; here the
suite is negotiated (17: HMAC-SHA256 / HMAC-SHA256-128 / AES-CBC-128, or 3: HMAC-SHA1 /
HMAC-SHA1-96 / AES-CBC-128), unknown users and full session tables get proper RMCP+ status
codes, and the session lives in its BMC's own table instead of pyghmi's process-wide
``bmc_handlers`` (which lets one client's relogin delete its sessions on every BMC).
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import os
import struct
import time
from typing import TYPE_CHECKING

import pyghmi.ipmi.private.constants as constants
import pyghmi.ipmi.private.serversession as serversession

if TYPE_CHECKING:
    from apps.lab.bmc.node import LabBmc

SUITE_17 = (3, 4, 1)  # RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128
SUITE_3 = (1, 1, 1)  # RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128

# RMCP+ status codes (IPMI 2.0 table 13-15)
RMCP_INSUFFICIENT_RESOURCES = 0x01
RMCP_INVALID_ROLE = 0x09
RMCP_UNAUTHORIZED_NAME = 0x0D
RMCP_INVALID_ICV = 0x0F
RMCP_NO_CIPHER_SUITE_MATCH = 0x11

RAKP_TYPES = (0x12, 0x14)  # RAKP 1 and 3 carry the BMC session id in the payload


class LabSession(serversession.ServerSession):
    """One client session on one lab BMC (pending until RAKP 4, then established)."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, bmc: LabBmc, clientaddr, request: bytes):
        # the attributes pyghmi's Session machinery reads, without its global registry
        self.bmc = bmc
        self.uuid = bmc.uuid
        self.authdata = bmc.authdata
        self.kg = None
        self.socket = bmc.socket
        self.sockaddr = clientaddr
        self.rqaddr = constants.IPMI_BMC_ADDRESS
        self.servermode = True
        self.ipmiversion = 2.0
        self.sequencenumber = 0
        self.sessionid = 0
        self.localsid = None
        self.lastpayload = None
        self.last_payload_type = None
        self.rqlun = None
        self.broken = False
        self.authtype = 6
        self.integrityalgo = 0
        self.confalgo = 0
        self.k1 = None
        self.sol_handler = None
        self.pendingpayloads = collections.deque()
        self.pktqueue = collections.deque()
        self.currhashlib = hashlib.sha1
        self.currhashlen = 12
        self.clientpriv = 4
        self.maxpriv = 4
        self.established = False
        self.last_activity = time.monotonic()
        self.managedsessionid = os.urandom(4)
        while struct.unpack("<I", self.managedsessionid)[0] in (0, *bmc.all_session_ids()):
            self.managedsessionid = os.urandom(4)
        self.open_status = 0
        response = self.create_open_session_response(bytearray(request))
        self.send_payload(response, constants.payload_types["rmcpplusopenresponse"], retry=False)

    @property
    def bmc_session_id(self) -> int:
        return struct.unpack("<I", self.managedsessionid)[0]

    def create_open_session_response(self, request):
        tag = request[0]
        self.clientsessionid = bytes(request[4:8])
        proposal = (request[12], request[20], request[28]) if len(request) >= 32 else None
        suites = {SUITE_3: hashlib.sha1}
        if not self.bmc.faults.suite3_only:
            suites[SUITE_17] = hashlib.sha256
        status = 0
        if not self.bmc.has_free_slot():
            status = RMCP_INSUFFICIENT_RESOURCES
        elif proposal not in suites:
            status = RMCP_NO_CIPHER_SUITE_MATCH
        self.open_status = status
        if status:
            return bytearray([tag, status, 0, 0]) + self.clientsessionid
        self.hashlib = suites[proposal]
        self.suite = 17 if proposal == SUITE_17 else 3
        auth, integrity, conf = proposal
        return (
            bytearray([tag, 0, 4, 0])
            + self.clientsessionid
            + self.managedsessionid
            + bytearray([0, 0, 0, 8, auth, 0, 0, 0])
            + bytearray([1, 0, 0, 8, integrity, 0, 0, 0])
            + bytearray([2, 0, 0, 8, conf, 0, 0, 0])
        )

    def _reply_rakp(self, ptype: str, tag: int, status: int, body: bytes = b"") -> None:
        payload = bytearray([tag, status, 0, 0]) + self.clientsessionid + body
        self.send_payload(payload, constants.payload_types[ptype], retry=False)

    def _got_rakp1(self, data):
        tag = data[0]
        self.Rm = bytes(data[8:24])
        self.rolem = data[24]
        self.maxpriv = self.rolem & 0b1111
        self.username = bytes(data[28 : 28 + data[27]])
        password = self.bmc.password_for(self.username.decode("utf-8", "replace"))
        if password is None:
            self._reply_rakp("rakp2", tag, RMCP_UNAUTHORIZED_NAME)
            return
        if self.maxpriv > 4:
            self._reply_rakp("rakp2", tag, RMCP_INVALID_ROLE)
            return
        self.kuid = password.encode("utf-8")
        self.kg = self.kuid
        self.Rc = os.urandom(16)
        self.uuiddata = self.uuid.bytes
        hmacdata = (
            self.clientsessionid
            + self.managedsessionid
            + self.Rm
            + self.Rc
            + self.uuiddata
            + bytes([self.rolem, len(self.username)])
            + self.username
        )
        authcode = hmac.new(self.kuid, hmacdata, self.hashlib).digest()
        self._reply_rakp("rakp2", tag, 0, self.Rc + self.uuiddata + authcode)

    def _got_rakp3(self, data):
        if not hasattr(self, "Rc"):
            return
        tag = data[0]
        if data[1] != 0:
            return  # the client gave up on our RAKP 2
        namepart = bytes([self.rolem, len(self.username)]) + self.username
        self.sik = hmac.new(self.kg, self.Rm + self.Rc + namepart, self.hashlib).digest()
        expected = hmac.new(
            self.kuid, self.Rc + self.clientsessionid + namepart, self.hashlib
        ).digest()
        if not hmac.compare_digest(expected, bytes(data[8:])):
            self._reply_rakp("rakp4", tag, RMCP_INVALID_ICV)
            return
        self.k1 = hmac.new(self.sik, b"\x01" * 20, self.hashlib).digest()
        self.k2 = hmac.new(self.sik, b"\x02" * 20, self.hashlib).digest()
        self.aeskey = self.k2[:16]
        icvlen = 16 if self.suite == 17 else 12
        icv = hmac.new(
            self.sik, self.Rm + self.managedsessionid + self.uuiddata, self.hashlib
        ).digest()[:icvlen]
        self._reply_rakp("rakp4", tag, 0, icv)
        self.localsid = self.bmc_session_id
        self.sessionid = struct.unpack("<I", self.clientsessionid)[0]
        self.currhashlib = self.hashlib
        self.currhashlen = icvlen
        self.confalgo = "aes"
        self.integrityalgo = "sha256" if self.suite == 17 else "sha1"
        self.sequencenumber = 1
        self.ipmicallback = self.handle_client_request
        self.established = True
        self.bmc.session_established(self)

    def handle_client_request(self, request):
        self.last_activity = time.monotonic()
        netfn, command = request["netfn"], request["command"]
        if netfn == 6 and command == 0x3B:  # set session privilege level
            wanted = request["data"][0] if request["data"] else 0
            if wanted > self.maxpriv:
                self.send_ipmi_response(code=0x81)
                return
            if wanted:
                self.clientpriv = wanted
            self.send_ipmi_response(data=[self.clientpriv])
        elif netfn == 6 and command == 0x3C:  # close session
            self.send_ipmi_response()
            self.bmc.close_session(self)
        else:
            self.bmc.handle_raw_request(request, self)

    def _xmit_packet(self, retry=True, delay_xmit=None, timeout=None):
        # servers never retransmit; send straight out of the BMC's socket
        if self.sequencenumber:
            self.sequencenumber += 1
        self.bmc.transmit(bytes(self.netpacket), self.sockaddr)

    def send_sol(self, payload: bytes) -> None:
        """Send one SOL payload (sequence/ack/count/status + data) to the client."""
        self.send_payload(bytearray(payload), constants.payload_types["sol"], retry=False)
