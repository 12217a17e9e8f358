"""Corrections to pyghmi 1.6.19 client defects, applied in one place (see shared notes ipmi.md §6).

Call `apply()` in every process that talks IPMI (the IPMI adapter does it on import); it is
idempotent. After ``fork()`` the child gets a clean pyghmi I/O state through
``os.register_at_fork``; Celery's ``worker_process_init`` can call `worker_process_init()` too.

Fixes (numbers follow the notes):

1. ``Session.initting_sessions`` is keyed by str credentials but deleted with bytes: a second
   ``Command()`` to the same BMC hangs forever. The entry is popped once ``__init__`` is done.
2. Lost wake-up: a reply queued before the caller registers its waiter (or parsed meanwhile by
   another thread, e.g. a housekeeper) is only seen after the retry timer (0.5-1 s).
   ``awaitresponse`` looks at its packet queue and reply before sleeping, and the thread that
   parses a reply wakes the session's waiters.
3. FRU reads back off on 0xC9/0xCA but not 0xC8 ("request data length exceeded").
4. The generic OEM handler is never marked known, so every call sends Get Device ID first.
5. ``_io_sendto`` sets a shared socket blocking while the I/O thread reads it: the I/O thread
   blocks in ``recvfrom`` and every session of the process stalls. Reads use MSG_DONTWAIT.
6. A synchronous login waits with no timeout and may sleep until a keepalive deadline (24-29 s).
   Waits without a timeout are capped at 0.1 s.
7. After fork the child believes the I/O thread runs: its first command hangs forever.
8. ``KEEPALIVE_SESSIONS`` and ``WAITING_SESSIONS`` are taken in opposite orders by a retransmit
   (waiting -> keepalive) and a send (keepalive -> waiting): two threads can deadlock. They
   become one re-entrant lock.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading

import pyghmi.exceptions as _pexc
from pyghmi.ipmi import command as _command
from pyghmi.ipmi import fru as _fru
from pyghmi.ipmi.private import session as _session
from pyghmi.ipmi.private.util import _monotonic_time

_applied = False
_apply_lock = threading.Lock()
_after_fork_callbacks: list = []

# how long a wait with "no timeout" may sleep before the caller re-checks its own state
CAPPED_WAIT = 0.1


def is_applied() -> bool:
    """True once `apply()` ran in this process."""
    return _applied


def apply() -> None:
    """Install every correction once per process (safe to call repeatedly)."""
    global _applied
    with _apply_lock:
        if _applied:
            return
        _fix_session_registry()
        _fix_lost_wakeup()
        _fix_fru_backoff()
        _fix_oem_known()
        _fix_recv_nonblocking()
        _fix_capped_waits()
        _fix_lock_order()
        os.register_at_fork(after_in_child=reset_after_fork)
        _applied = True


def on_fork(callback) -> None:
    """Register ``callback`` to run in a forked child after pyghmi's state is reset."""
    _after_fork_callbacks.append(callback)


def worker_process_init(**_kwargs) -> None:
    """Celery ``worker_process_init`` receiver: reset inherited state, then apply."""
    reset_after_fork()
    apply()


# --- 1 -------------------------------------------------------------------------------------


def _fix_session_registry() -> None:
    original_init = _session.Session.__init__

    def __init__(self, bmc, userid, password, port=623, kg=None, onlogon=None, **kwargs):
        try:
            original_init(self, bmc, userid, password, port, kg, onlogon, **kwargs)
        finally:
            key = (bmc, userid, password, port, kg)
            if _session.Session.initting_sessions.get(key) is self:
                del _session.Session.initting_sessions[key]

    _session.Session.__init__ = __init__


# --- 2 -------------------------------------------------------------------------------------


def _fix_lost_wakeup() -> None:
    def awaitresponse(self, retry, netfn, command):
        # a copy of pyghmi's loop; the only change is "if not self.pktqueue" before waiting
        self.awaitingresponse = True
        try:
            alltimeout = _monotonic_time() + (self._getmaxtimeout() * 2)
            while (
                retry
                and _session.unmatched(self.lastresponse, netfn, command)
                and (self.logging or self.logged or self.onlogpayload)
            ):
                if not self.pktqueue:
                    _wait_for_reply(self, netfn, command, self.expiration - _monotonic_time())
                while self.iterwaiters:
                    self.iterwaiters.pop()({"success": True})
                self.process_pktqueue()
                if _monotonic_time() > alltimeout:
                    self._mark_broken()
                    raise _pexc.IpmiException("Session no longer connected")
                with _session.util.protect(_session.WAITING_SESSIONS):
                    if self in self.waiting_sessions and self.expiration < _monotonic_time():
                        self.waiting_sessions.pop(self, None)
                        if not self.lastpayload and not self.logging:
                            return
                        self._timedout()
        finally:
            self.awaitingresponse = False

    original_parse = _session.Session._parse_payload

    def _parse_payload(self, payload):
        try:
            return original_parse(self, payload)
        finally:
            # the reply may be parsed by another thread (a housekeeper, another caller):
            # wake whoever waits for this session
            for evt in list(self.__dict__.get("_reply_waiters", ())):
                evt.set()

    _session.Session.awaitresponse = awaitresponse
    _session.Session._parse_payload = _parse_payload


def _wait_for_reply(sess, netfn, command, timeout) -> None:
    """pyghmi's ``_io_wait`` for one session, re-checking after the waiter is registered."""
    evt = threading.Event()
    waiters = sess.__dict__.setdefault("_reply_waiters", [])
    waiters.append(evt)
    try:
        if sess.pktqueue or not _session.unmatched(sess.lastresponse, netfn, command):
            return
        deadline = _monotonic_time() + max(timeout, 0)
        _session.ioqueue.append((deadline, evt, sess.sockaddr))
        if deadline < _session.selectdeadline:
            # break the I/O thread out of a longer select() so it honours our deadline
            intsock = _session.iosockets[0]
            intsock = getattr(intsock, "fd", intsock)
            intsock.sendto(b"\x01", (_session.myself, _session.iosockets[0].getsockname()[1]))
        evt.wait()
    finally:
        with contextlib.suppress(ValueError):
            waiters.remove(evt)


# --- 3 -------------------------------------------------------------------------------------


def _fix_fru_backoff() -> None:
    def fetch_fru(self, fruid):
        # pyghmi's loop with 0xC8 added to the codes that mean "ask for less"
        response = self.ipmicmd.raw_command(netfn=0xA, command=0x10, data=[fruid])
        if "error" in response:
            raise _pexc.IpmiException(response["error"], code=response["code"])
        frusize = response["data"][0] | (response["data"][1] << 8)
        chunksize = min(224, frusize)
        offset = 0
        self.rawfru = bytearray()
        while chunksize:
            response = self.ipmicmd.raw_command(
                netfn=0xA, command=0x11, data=[fruid, offset & 0xFF, offset >> 8, chunksize]
            )
            if response["code"] in (0xC8, 0xC9, 0xCA):
                if chunksize <= 3:
                    raise _pexc.IpmiException(response["error"], response["code"])
                chunksize = chunksize // 2 + 2
                continue
            if "error" in response:
                raise _pexc.IpmiException(response["error"], response["code"])
            offset += response["data"][0]
            if response["data"][0] == 0:
                break
            self.rawfru.extend(response["data"][1:])
            if offset + chunksize > frusize:
                chunksize = frusize - offset

    _fru.FRU.fetch_fru = fetch_fru


# --- 4 -------------------------------------------------------------------------------------


def _fix_oem_known() -> None:
    original = _command.Command.oem_init

    def oem_init(self):
        original(self)
        if self._oem is not None:
            # the handler found for this BMC will not change for the life of the Command
            self._oemknown = True

    _command.Command.oem_init = oem_init


# --- 5 -------------------------------------------------------------------------------------


def _fix_recv_nonblocking() -> None:
    def _io_recvfrom(mysocket, size):
        # setblocking(0) stays for gevent/eventlet sockets; MSG_DONTWAIT makes the read
        # non-blocking even when another thread just flipped the socket back to blocking
        mysocket.setblocking(0)
        try:
            return mysocket.recvfrom(size, socket.MSG_DONTWAIT)
        except OSError:
            return None

    _session._io_recvfrom = _io_recvfrom


# --- 6 -------------------------------------------------------------------------------------


def _fix_capped_waits() -> None:
    original = _session.Session.wait_for_rsp.__func__

    def wait_for_rsp(cls, timeout=None, callout=True):
        if timeout is None:
            timeout = CAPPED_WAIT
        return original(cls, timeout, callout)

    _session.Session.wait_for_rsp = classmethod(wait_for_rsp)


# --- 7 -------------------------------------------------------------------------------------


def reset_after_fork() -> None:
    """Forget the parent's I/O thread, sockets and sessions (run in a freshly forked child)."""
    for sock in list(_session.iosockets):
        with contextlib.suppress(OSError):
            sock.close()
    _session.iothread = None
    _session.iothreadready = False
    _session.iothreadwaiters = []
    _session.iosockets = []
    _session.ioqueue.clear()
    _session.sessionqueue.clear()
    _session.selectdeadline = 0
    _session.Session.bmc_handlers = {}
    _session.Session.waiting_sessions = {}
    _session.Session.initting_sessions = {}
    _session.Session.keepalive_sessions = {}
    _session.Session.socketpool = {}
    _session.Session.socketchecking = None
    # a lock held by another parent thread at fork time would never be released in the child
    lock = threading.RLock()
    _session.KEEPALIVE_SESSIONS = lock
    _session.WAITING_SESSIONS = lock if _applied else threading.RLock()
    for callback in _after_fork_callbacks:
        callback()


# --- 8 -------------------------------------------------------------------------------------


def _fix_lock_order() -> None:
    _session.WAITING_SESSIONS = _session.KEEPALIVE_SESSIONS
