"""Each pyghmi correction, shown failing without `pyghmi_compat.apply()` and working with it.

Every scenario runs in a fresh interpreter (pyghmi's state is process-wide) against lab BMCs
served by this process; a scenario that hangs is killed after a short timeout.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANG = "HUNG"

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
"""


def run_scenario(body: str, fixed: bool, *ports: int, hangs: bool = False) -> str:
    """Run ``body`` stock or fixed; a run expected to hang gets a short leash, others a long one."""
    timeout = 4.0 if hangs else 30.0
    script = PRELUDE.format(root=str(ROOT)) + textwrap.dedent(body)
    mode = "fixed" if fixed else "stock"
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, mode, *map(str, ports)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return HANG
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]


SECOND_COMMAND = """
apply()
login(PORTS[0]).get_power()
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
        end = time.monotonic() + 2
        while not self.pktqueue and time.monotonic() < end:
            time.sleep(0.001)
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
        end = time.monotonic() + 3
        while sess.logging and time.monotonic() < end:
            time.sleep(0.005)
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
thread.join(25)  # from here on nothing else drives pyghmi's loop
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
end = time.monotonic() + (3 if not FIXED else 25)
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
# an ordinary send (send_payload -> _xmit_packet) takes KEEPALIVE then WAITING.
apply()
sess = login(PORTS[0]).ipmi_session
barrier = threading.Barrier(2, timeout=2)
def retransmit():
    with session.util.protect(session.WAITING_SESSIONS):
        barrier.wait()
        sess._send_ipmi_net_payload(netfn=6, command=1)
def send():
    with session.util.protect(session.KEEPALIVE_SESSIONS):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        with session.util.protect(session.WAITING_SESSIONS):
            pass
threads = [threading.Thread(target=f, daemon=True) for f in (retransmit, send)]
for t in threads:
    t.start()
for t in threads:
    t.join(3)
print("deadlock" if any(t.is_alive() for t in threads) else "done")
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
