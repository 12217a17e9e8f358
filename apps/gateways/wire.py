"""What travels between the central side and the gateways on RabbitMQ (no Django here).

A gateway ``NAME`` consumes the queue ``gw.NAME`` (bound to the direct exchange ``gw.NAME``)
and, for serial consoles, ``gw.NAME.console`` (bound to the same exchange);
it answers by publishing a signed `envelope` to the exchange ``heatsite.results``, bound to the
central queue ``central.results`` that central workers consume. Its RabbitMQ user may touch
nothing else (`permissions`).
"""

from __future__ import annotations

import re
import time
from typing import Any

RESULTS_EXCHANGE = "heatsite.results"
RESULTS_QUEUE = "central.results"
RESULT_TASK = "heatsite.gateway_result"
DEADLINE_TASK = "heatsite.gateway_deadline"

POWER_TASK = "gw.power"
BMC_POLL_TASK = "gw.bmc_poll"
METER_POLL_TASK = "gw.meter_poll"  # the site's meter list (the gateway reads on its clock)
SPOOL_ACK_TASK = "gw.spool_ack"  # spooled readings up to a sequence number are stored
METER_READINGS_KIND = "meter_readings"  # a batch of spooled readings, oldest first
TPM_QUOTE_TASK = "gw.tpm_quote"
TPM_ENROL_TASK = "gw.tpm_enrol"
FIRMWARE_TASK = "gw.firmware"  # one Redfish firmware-update call (inventory, send, task, power)
HEARTBEAT_KIND = "heartbeat"
# serial consoles (`agent_console`): central -> ``gw.NAME.console`` (bound to exchange gw.NAME),
# gateway -> exchange heatsite.results with this routing key, read by the console broker only
CONSOLE_RESULTS_QUEUE = "central.console"
CONSOLE_KINDS = ("console_state", "console_output", "console_status")

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")


def queue_name(gateway: str) -> str:
    return f"gw.{gateway}"


def console_queue_name(gateway: str) -> str:
    """A gateway's console queue (its name holds no dot: no other gateway's queue matches)."""
    return f"gw.{gateway}.console"


def rabbit_user(gateway: str) -> str:
    return f"gw-{gateway}"


def permissions(gateway: str) -> tuple[str, str, str]:
    """RabbitMQ (configure, write, read) regexes for a gateway's user: declare and read only its
    own queues (tasks, console) and exchange; write to them (binding) and to the central results
    exchange."""
    own = re.escape(queue_name(gateway)) + r"(\.console)?"
    return (f"^{own}$", f"^({own}|{re.escape(RESULTS_EXCHANGE)})$", f"^{own}$")


def envelope(
    *, gateway: str, kind: str, call_id: str, payload: dict[str, Any], version: str
) -> dict[str, Any]:
    """The document a gateway signs: who, what, for which call, when (epoch UTC)."""
    return {
        "gateway": gateway,
        "kind": kind,
        "call_id": call_id,
        "payload": payload,
        "version": version,
        "sent_at": time.time(),
    }
