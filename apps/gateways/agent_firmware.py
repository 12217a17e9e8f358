"""Firmware-update calls run by the site gateway against its own site's Redfish BMCs. No Django.

The central side (`apps.gateways.firmware`) keeps the update's state machine and decides; the
gateway makes the one Redfish call each message asks for and answers what the BMC said, as
plain data: the firmware inventory, the send (``SimpleUpdate`` with the image URL made
centrally, or a multipart push of the image it downloads and checks against its digest), the
task monitor's state (lossy: "gone" is an answer, the central side reads the versions back),
and the power state before a reset. A send is journalled on disk before the BMC hears of it
("started"), so a message redelivered after the gateway was killed never sends an image twice:
it is answered "interrupted", as a central worker found staging would. Every call names its
image's digest: the relay keeps that image while the update runs (`images.store_pin`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
import urllib.request
from pathlib import Path
from typing import Any

from apps.gateways import crypto, images
from apps.hardware.drivers.base import BmcEndpoint, BmcError, TaskRef, driver_for

logger = logging.getLogger("heatsite.gateway")
OPS = ("inventory", "task", "power_state", "power_watts", "simple", "push")
SENDS = ("simple", "push")
MAX_IMAGE = 512 * 1024 * 1024  # a pushed image is held in memory: refused above this


class GatewayFirmware:
    """The gateway's firmware calls: its journal of sends and its image store."""

    def __init__(self, gateway: Any):
        from apps.gateways.agent import Journal  # agent imports this module: late import

        self.gateway = gateway
        self.journal = Journal(gateway.config.state_dir / "firmware")
        relay = gateway.config.image_relay
        self.relay = images.ImageRelay(relay) if relay is not None else None

    def call(self, call: Any) -> str:
        gateway = self.gateway
        if not gateway._valid(call) or call.get("op") not in OPS:
            return "ignored"
        call_id, op = call["call_id"], call["op"]
        if self.relay is not None and images.DIGEST_RE.match(str(call.get("image_sha256"))):
            images.store_pin(self.relay.config.cache_dir, call["image_sha256"])
        entry = self.journal.get(call_id) if op in SENDS else None
        if entry and entry.get("state") == "done":
            self.answer(call_id, entry["result"])  # its answer may have been lost
            return "resent"
        if time.time() > float(call["start_by"]):
            logger.warning("firmware call %s arrived after its start-by time: not run", call_id)
            return "expired"
        if entry:  # started, never finished: the image may have reached the BMC
            result = {
                "ok": False,
                "cause": "interrupted",
                "message": "The site gateway stopped while the image was being sent; it was not "
                "sent again (the BMC may hold a task for it). Check the node's firmware and "
                "request the update again.",
                "transient": False,
            }
        else:
            try:
                secret = gateway._open(call)
            except crypto.SealError as error:
                result = {"ok": False, "cause": "sealed", "message": str(error)}
            else:
                if op in SENDS:
                    self.journal.put(call_id, {"state": "started", "at": time.time()})
                result = self.run(op, call.get("args") or {}, secret, call.get("image_sha256"))
        if op in SENDS:
            self.journal.put(call_id, {"state": "done", "result": result, "at": time.time()})
        self.answer(call_id, result)
        return "done"

    def answer(self, call_id: str, result: dict[str, Any]) -> None:
        self.gateway.publish("firmware", call_id, result)

    def run(self, op: str, args: dict[str, Any], secret: dict[str, Any], digest: Any) -> dict:
        """One Redfish call; plain data in, plain data out (a `BmcError` as its cause)."""
        try:
            endpoint = BmcEndpoint(**secret["endpoint"])
            driver = driver_for(endpoint, timeout=self.gateway.config.bmc_timeout)
            if op == "inventory":
                found = [dataclasses.asdict(item) for item in driver.firmware()]
                return {"ok": True, "result": found}
            if op == "task":
                status = driver.task_status(TaskRef(**args["ref"]))
                return {"ok": True, "result": dataclasses.asdict(status)}
            if op == "power_state":
                return {"ok": True, "result": dataclasses.asdict(driver.power_state())}
            if op == "power_watts":
                return {"ok": True, "result": driver.system_power_watts()}
            targets, apply_time = tuple(args.get("targets") or ()), args["apply_time"]
            if op == "simple":
                ref = driver.firmware_update_simple(
                    secret["image_url"], targets, apply_time=apply_time
                )
            else:
                image = self.image(secret["image_url"], str(digest))
                ref = driver.firmware_update_push(image, targets, apply_time=apply_time)
            return {"ok": True, "result": dataclasses.asdict(ref)}
        except BmcError as error:
            return {
                "ok": False,
                "cause": error.cause,
                "message": error.message,
                "transient": error.transient,
            }
        except Exception as error:
            logger.exception("firmware call %s failed unexpectedly", op)
            return {
                "ok": False,
                "cause": "internal",
                "message": "The site gateway failed while asking the BMC "
                f"({type(error).__name__}).",
                "transient": False,
            }

    def image(self, url: str, digest: str) -> bytes:
        """The image to push: from the relay's store (one download per site) when the URL is
        the relay's, else downloaded from the central side; checked against ``digest``."""
        relay = self.relay
        if relay is not None and url.startswith(relay.config.public_url + "/"):
            match = images.PATH_RE.match(url[len(relay.config.public_url) :])
            if match is None or match.group(1) != digest:
                raise BmcError("bad_request", "The image link does not name this image.")
            try:
                return Path(relay.obtain(digest, match.group(2))).read_bytes()
            except images.RelayRefused as refused:
                raise BmcError("image", _refusal(refused.status)) from None
        try:
            with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 - ours
                data = answer.read(MAX_IMAGE + 1)
        except OSError as error:
            words = f"The site gateway could not fetch the image: {error}"
            raise BmcError("image", words) from None
        if len(data) > MAX_IMAGE or hashlib.sha256(data).hexdigest() != digest:
            raise BmcError("image", "The image fetched did not match its digest; not sent.")
        return data


def _refusal(status: int) -> str:
    if status == 502:
        return "The site gateway could not fetch the image (or it did not match its digest)."
    return f"Heatsite refused the image link ({status})."


def register(app: Any, gateway: Any) -> GatewayFirmware:
    """The gateway's firmware task, on its own Celery ``app``."""
    from apps.gateways import wire

    firmware = GatewayFirmware(gateway)

    @app.task(name=wire.FIRMWARE_TASK, acks_late=True, reject_on_worker_lost=True, shared=False)
    def firmware_call(call: dict[str, Any]) -> str:
        return firmware.call(call)

    return firmware
