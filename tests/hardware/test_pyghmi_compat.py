"""Each pyghmi correction, shown failing without `pyghmi_compat.apply()` and working with it.

Every scenario runs in a fresh interpreter (pyghmi's state is process-wide) against lab BMCs
served by this process. Nothing here measures the machine: a scenario expected to hang prints
READY when it reaches the call that hangs and only then gets a short leash (the hang is
forever; the leash just stops waiting for it), and every other bound is a generous limit on a
broken run that a working one never comes near.
"""

import queue
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANG = "HUNG"
READY = "READY"
LEASH = 5.0  # after READY, a stock scenario that hangs; the working path takes milliseconds
BOUND = 180.0  # any scenario start-up, or a run that finishes: only a broken run gets near it

PRELUDE = """
import os, sys, threading, time
sys.path.insert(0, {root!r})
FIXED = sys.argv[1] == "fixed"
PORTS = [int(p) for p in sys.argv[2:]]
from pyghmi.ipmi import command
from pyghmi.ipmi.private import session
def apply():
    if FIXED:
        from apps.hardware import pyghmi_compat
        pyghmi_compat.apply()
def login(port):
    return command.Command("127.0.0.1", "admin", "password", port=port)
def ready():
    print("READY", flush=True)
def until(condition, what):
    end = time.monotonic() + 120  # bounds a broken run only
    while not condition():
        if time.monotonic() > end:
            raise SystemExit("never happened: " + what)
        time.sleep(0.002)
"""


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


def run_scenario(body: str, fixed: bool, *ports: int, hangs: bool = False) -> str:
    """Run ``body`` stock or fixed; its last line of output, or ``HANG``.

    A run expected to hang must print READY (``ready()``) before the call that hangs; it is
    HANG when it has not finished ``LEASH`` seconds later. Other runs must finish.
    """
    script = PRELUDE.format(root=str(ROOT)) + textwrap.dedent(body)
    mode = "fixed" if fixed else "stock"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, mode, *map(str, ports)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: queue.Queue = queue.Queue()
    err: queue.Queue = queue.Queue()
    readers = [
        threading.Thread(target=_lines, args=(stream, into), daemon=True)
        for stream, into in ((proc.stdout, out), (proc.stderr, err))
    ]
    for reader in readers:
        reader.start()
    lines, finished, reached = [], False, False
    deadline = time.monotonic() + BOUND
    try:
        while not finished:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                line = out.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                finished = True
            elif line == READY and hangs:
                reached, deadline = True, time.monotonic() + LEASH
            elif line != READY:
                lines.append(line)
    finally:
        if not finished:
            proc.kill()
        proc.wait(timeout=60)
        for reader in readers:
            reader.join(timeout=60)  # ends at EOF, now that the process is gone
        proc.stdout.close()
        proc.stderr.close()
    if not finished:
        return HANG if reached or not hangs else f"{HANG} before {READY}"
    if lines:
        return lines[-1]
    errors = []
    while (line := err.get(timeout=60)) is not None:
        errors.append(line)
    return "\n".join(errors)[-300:]


SECOND_COMMAND = """
apply()
login(PORTS[0]).get_power()
ready()
print(login(PORTS[0]).get_power()["powerstate"])
"""


@pytest.mark.parametrize(("fixed", "expected"), [(False, HANG), (True, "on")])
def test_fix1_a_second_command_to_the_same_bmc_does_not_hang(lab, fixed, expected):
    assert run_scenario(SECOND_COMMAND, fixed, lab.port(0), hangs=expected == HANG) == expected


LOST_WAKEUP = """
# Make the race certain: the caller is descheduled after sending until the reply is queued.
state = {"armed": False, "late_waits": 0}
original_xmit = session.Session._xmit_packet
def xmit(self, *args, **kwargs):
    original_xmit(self, *args, **kwargs)
    if state["armed"] and not self.servermode:
        until(lambda: self.pktqueue, "the reply queued")
session.Session._xmit_packet = xmit
def queued(addr):
    return any(s.pktqueue for s in session.Session.bmc_handlers.get(addr, {}).values())
original_wait = session._io_wait
def io_wait(timeout, myaddr=None, evq=None):
    if myaddr is not None and queued(myaddr):
        state["late_waits"] += 1  # going to sleep although the reply is already here
    return original_wait(timeout, myaddr, evq)
session._io_wait = io_wait
apply()
if FIXED:
    from apps.hardware import pyghmi_compat
    original_reply_wait = pyghmi_compat._wait_for_reply
    def reply_wait(sess, *args):
        if sess.pktqueue:
            state["late_waits"] += 1
        return original_reply_wait(sess, *args)
    pyghmi_compat._wait_for_reply = reply_wait
c = login(PORTS[0])
c.get_power()
state["armed"] = True
states = [c.get_power()["powerstate"] for _ in range(4)]
print(states.count("on"), state["late_waits"])
"""


@pytest.mark.parametrize("fixed", [False, True])
def test_fix2_a_reply_queued_before_the_wait_is_not_slept_on(lab, fixed):
    polled_on, late_waits = map(int, run_scenario(LOST_WAKEUP, fixed, lab.port(0)).split())
    assert polled_on == 4
    if fixed:
        assert late_waits == 0
    else:
        assert late_waits >= 4  # at least one lost wake-up per call


FRU = """
apply()
try:
    inventory = dict(login(PORTS[0]).get_inventory())
    print(inventory["System"]["Serial Number"])
except Exception as exc:
    print("error", type(exc).__name__)
"""


@pytest.mark.parametrize(
    ("fixed", "expected"), [(False, "error IpmiException"), (True, "HS000000")]
)
def test_fix3_fru_reads_back_off_on_completion_code_c8(lab, fixed, expected):
    lab.bmc(0).faults.fru_read_cap = 32
    assert run_scenario(FRU, fixed, lab.port(0)) == expected


POLLS = """
apply()
c = login(PORTS[0])
print([c.get_power()["powerstate"] for _ in range(5)].count("on"))
"""


@pytest.mark.parametrize("fixed", [False, True])
def test_fix4_power_polls_do_not_resend_get_device_id(lab, fixed):
    before = lab.bmc(0).request_count(6, 1)
    assert run_scenario(POLLS, fixed, lab.port(0)) == "5"
    device_ids = lab.bmc(0).request_count(6, 1) - before
    if fixed:
        assert device_ids <= 1
    else:
        assert device_ids >= 5


BLOCKING_RACE = """
# The race's outcome made certain: another thread's setblocking(1) always lands between the
# I/O thread's setblocking(0) and its recvfrom().
class RacedSocket:
    def __init__(self, sock):
        self._sock = sock
    def setblocking(self, flag):
        self._sock.setblocking(True)
    def fileno(self):
        return self._sock.fileno()
    def __getattr__(self, name):
        return getattr(self._sock, name)
original_assign = session.Session._assignsocket.__func__
def assign(cls, server=None, forbiddensockets=()):
    sock = original_assign(cls, server, forbiddensockets)
    if isinstance(sock, RacedSocket):
        return sock
    raced = RacedSocket(sock)
    session.iosockets[session.iosockets.index(sock)] = raced
    if sock in cls.socketpool:
        cls.socketpool[raced] = cls.socketpool.pop(sock)
    return raced
session.Session._assignsocket = classmethod(assign)
apply()
ready()
c = login(PORTS[0])
print([c.get_power()["powerstate"] for _ in range(3)].count("on"))
"""


@pytest.mark.parametrize(("fixed", "expected"), [(False, HANG), (True, "3")])
def test_fix5_a_socket_flipped_to_blocking_does_not_stall_the_io_thread(lab, fixed, expected):
    assert run_scenario(BLOCKING_RACE, fixed, lab.port(0), hangs=expected == HANG) == expected


LOGIN_WAIT = """
# Thread A checks "still logging", then the main thread finishes A's login, then A waits.
target = {}
original_login = session.Session.login
def login_hook(self):
    if threading.current_thread().name == "A":
        target["session"] = self
    return original_login(self)
session.Session.login = login_hook
original_wait = session.Session.wait_for_rsp.__func__
def wait(cls, timeout=None, callout=True):
    sess = target.get("session")
    if threading.current_thread().name == "A" and sess is not None:
        until(lambda: not sess.logging, "the main thread finished A's login")
    return original_wait(cls, timeout, callout)
session.Session.wait_for_rsp = classmethod(wait)
apply()
result = {}
def worker():
    result["state"] = login(PORTS[0]).get_power()["powerstate"]
thread = threading.Thread(target=worker, name="A", daemon=True)
thread.start()
while "session" not in target or target["session"].logging:
    original_wait(session.Session, 0.05)
ready()
thread.join(120)  # from here on nothing else drives pyghmi's loop
print(result.get("state"))
"""


@pytest.mark.parametrize(("fixed", "expected"), [(False, HANG), (True, "on")])
def test_fix6_a_login_finished_by_another_thread_is_noticed(lab, fixed, expected):
    assert run_scenario(LOGIN_WAIT, fixed, lab.port(0), hangs=expected == HANG) == expected


FORK = """
apply()
login(PORTS[0]).get_power()
pid = os.fork()
if pid == 0:
    try:
        ok = login(PORTS[1]).get_power()["powerstate"] == "on"
    finally:
        pass
    os._exit(0 if ok else 3)
# Stock, the child hangs for good: 5 s prove it. Fixed, it answers in well under a second.
end = time.monotonic() + (5 if not FIXED else 120)
while time.monotonic() < end:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("child", os.waitstatus_to_exitcode(status))
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("child hung")
"""


@pytest.mark.parametrize(("fixed", "expected"), [(False, "child hung"), (True, "child 0")])
def test_fix7_a_forked_child_can_talk_ipmi(lab, fixed, expected):
    assert run_scenario(FORK, fixed, lab.port(0), lab.port(1)) == expected


LOCK_ORDER = """
# A retransmit (wait_for_rsp -> _timedout -> send_payload) takes WAITING then KEEPALIVE;
# an ordinary send (send_payload -> _xmit_packet) takes KEEPALIVE then WAITING. Each thread
# takes its first lock and goes on once the other holds its own or is blocked taking it.
# The outcome is read from the locks' wait-for graph, never from how long anything took:
# "deadlock" when each thread waits for a lock the other holds, "done" when both finished.
apply()
sess = login(PORTS[0]).ipmi_session
waiting = {}  # thread ident -> the tracked lock it is taking
class Tracked:
    def __init__(self, lock):
        self.lock, self.owner, self.depth = lock, None, 0
    def acquire(self, blocking=True, timeout=-1):
        me = threading.get_ident()
        waiting[me] = self
        try:
            got = self.lock.acquire(blocking, timeout)
        finally:
            del waiting[me]
        if got:
            self.owner, self.depth = me, self.depth + 1
        return got
    def release(self):
        self.depth -= 1
        if not self.depth:
            self.owner = None
        self.lock.release()
    __enter__ = acquire
    def __exit__(self, *exc):
        self.release()
wrappers = {}
for name in ("WAITING_SESSIONS", "KEEPALIVE_SESSIONS"):  # one wrapper per distinct lock
    lock = getattr(session, name)
    setattr(session, name, wrappers.setdefault(id(lock), Tracked(lock)))
def deadlocked():
    for me, lock in list(waiting.items()):
        holder = lock.owner
        theirs = waiting.get(holder) if holder not in (None, me) else None
        if theirs is not None and theirs.owner == me:
            return True
    return False
held = {"retransmit": threading.Event(), "send": threading.Event()}
ident, finished = {}, set()
def holds_or_is_blocked_on(name, lock):
    return lambda: held[name].is_set() or waiting.get(ident.get(name)) is lock
def retransmit():
    ident["retransmit"] = threading.get_ident()
    with session.util.protect(session.WAITING_SESSIONS):
        held["retransmit"].set()
        until(holds_or_is_blocked_on("send", session.KEEPALIVE_SESSIONS), "send in position")
        sess._send_ipmi_net_payload(netfn=6, command=1)
    finished.add("retransmit")
def send():
    ident["send"] = threading.get_ident()
    until(held["retransmit"].is_set, "retransmit holding WAITING")
    with session.util.protect(session.KEEPALIVE_SESSIONS):
        held["send"].set()
        with session.util.protect(session.WAITING_SESSIONS):
            pass
    finished.add("send")
threads = [threading.Thread(target=f, daemon=True) for f in (retransmit, send)]
for t in threads:
    t.start()
outcome, end = "undecided", time.monotonic() + 120  # bounds a broken run only
while time.monotonic() < end:
    if deadlocked():
        outcome = "deadlock"
        break
    if not any(t.is_alive() for t in threads):
        outcome = "done" if finished == {"retransmit", "send"} else "failed " + str(finished)
        break
    time.sleep(0.002)
print(outcome, flush=True)
os._exit(0)
"""


@pytest.mark.parametrize(("fixed", "expected"), [(False, "deadlock"), (True, "done")])
def test_fix8_retransmits_and_sends_do_not_deadlock(lab, fixed, expected):
    assert run_scenario(LOCK_ORDER, fixed, lab.port(0)) == expected


def test_apply_is_idempotent_and_resets_after_fork_in_process():
    from apps.hardware import pyghmi_compat

    pyghmi_compat.apply()
    wait = pyghmi_compat._session.Session.wait_for_rsp
    pyghmi_compat.apply()
    assert pyghmi_compat._session.Session.wait_for_rsp == wait
    assert pyghmi_compat.is_applied()
