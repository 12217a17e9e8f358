"""The gateway's own meter reads: the meter list it keeps, its clock, its spool, its uploads.

The central side sends each gateway its site's meter list (sealed, in the ``gw.meter_poll``
call, with the poll interval) every meter sweep. The gateway keeps the last list on disk
(``meters.json``, still sealed) and reads those meters on its own clock, uplink or not, so a
restart during an outage still reads them. Every reading goes into the `Spool`; the uploader
sends the spool's head, oldest first, one batch at a time (``meter_readings``), and a batch
leaves the spool when the central side acknowledges it (``gw.spool_ack``, sent after the
readings are stored), not when the broker takes it: a broker-confirmed message can still be
lost by a central task that fails, and only the central side knows that it stored them. A batch
not acknowledged within ``ack_wait`` seconds is sent again (storing is idempotent centrally).
Central calls never trigger a read themselves: one clock, so no double readings.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from apps.gateways import crypto, wire
from apps.gateways.spool import Spool
from apps.heat.meters import MeterError
from apps.heat.meters import driver_for as meter_driver_for
from apps.ops import metrics

logger = logging.getLogger("heatsite.gateway")
LIST_FILE = "meters.json"
UPLOAD_KIND = wire.METER_READINGS_KIND


def file_write(path: Path, text: str) -> None:
    """Replaces ``path`` with ``text``, on the disk before it returns (file and directory)."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def meter_read(meter: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """One meter read over its protocol: ``{"meter_id", "ok": True, "reading"}`` or the error."""
    answer: dict[str, Any] = {"meter_id": meter["meter_id"]}
    try:
        driver = meter_driver_for(
            protocol=meter["protocol"],
            host=meter["host"],
            port=int(meter["port"]),
            unit_id=int(meter["unit_id"]),
            model=meter["model"],
            timeout=timeout,
        )
        try:
            reading = driver.read()
        finally:
            driver.close()
    except MeterError as error:
        return {
            **answer,
            "ok": False,
            "cause": error.cause,
            "transient": error.transient,
            "detail": error.detail,
        }
    except Exception as error:
        return {
            **answer,
            "ok": False,
            "cause": "driver_error",
            "transient": True,
            "detail": repr(error),
        }
    values = dataclasses.asdict(reading)
    values["read_at"] = reading.read_at.isoformat()
    return {**answer, "ok": True, "reading": values}


class SiteMeters:
    """The meters of the gateway's sites: kept, read on the gateway's clock, spooled, uploaded.

    ``publish(kind, call_id, payload)`` sends one signed answer (it raises when the uplink is
    down). Three threads: the reader, the uploader, and the caller's Celery threads handing in
    meter lists and acknowledgements.
    """

    def __init__(
        self,
        *,
        name: str,
        keys: crypto.GatewayKeys,
        state_dir: Path,
        spool: Spool,
        publish: Callable[[str, str, dict[str, Any]], None],
        interval: float = 10.0,
        timeout: float = 5.0,
        concurrency: int = 4,
        batch: int = 500,
        ack_wait: float = 60.0,
    ):
        self.name, self.keys, self.spool, self.publish = name, keys, spool, publish
        self.path = Path(state_dir) / LIST_FILE
        self.default_interval, self.timeout = interval, timeout
        self.concurrency, self.batch, self.ack_wait = concurrency, batch, ack_wait
        self.meters: list[dict[str, Any]] = []
        self.interval = interval
        self.list_call = ""
        self.failing: dict[str, dict[str, Any]] = {}
        self.rounds = 0
        self._sent_upto: int | None = None
        self._sent_at = 0.0
        self._reported_round = 0
        self._lock = threading.Lock()
        self._read_now = threading.Event()
        self._upload_now = threading.Event()
        self._load()

    # -- the meter list ----------------------------------------------------------------------

    def _open(self, call_id: str, sealed: dict[str, str]) -> dict[str, Any]:
        data = crypto.unseal(self.keys, sealed, aad=f"{self.name}:{call_id}")
        if not isinstance(data, dict) or not isinstance(data.get("meters"), list):
            raise crypto.SealError("not a meter list")
        return data

    def _take(self, call_id: str, data: dict[str, Any]) -> None:
        with self._lock:
            had = bool(self.meters)
            self.meters = list(data["meters"])
            # at least a second between rounds, whatever the list says
            self.interval = max(float(data.get("interval") or self.default_interval), 1.0)
            self.list_call = call_id
        if not had and self.meters:
            self._read_now.set()

    def _load(self) -> None:
        try:
            saved = json.loads(self.path.read_text())
            self._take(saved["call_id"], self._open(saved["call_id"], saved["sealed"]))
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, crypto.SealError) as error:
            logger.warning("the saved meter list cannot be used (%s): waiting for a new one", error)

    def list_receive(self, call: dict[str, Any]) -> int:
        """A meter list from the central side (a ``gw.meter_poll`` call): kept, on disk, sealed
        as it came. Returns how many meters the gateway now reads."""
        call_id, sealed = str(call["call_id"]), call["sealed"]
        data = self._open(call_id, sealed)
        file_write(self.path, json.dumps({"call_id": call_id, "sealed": sealed}))
        self._take(call_id, data)
        return len(data["meters"])

    # -- reading -----------------------------------------------------------------------------

    def read_round(self) -> int:
        """Reads every meter once; the readings go into the spool. Returns how many were read."""
        with self._lock:
            meters = list(self.meters)
        if not meters:
            return 0
        with ThreadPoolExecutor(min(self.concurrency, len(meters))) as pool:
            answers = list(pool.map(lambda m: meter_read(m, timeout=self.timeout), meters))
        readings = [(a["meter_id"], a["reading"]) for a in answers if a["ok"]]
        failing = {
            str(a["meter_id"]): {k: a[k] for k in ("cause", "transient", "detail")}
            for a in answers
            if not a["ok"]
        }
        added, dropped = self.spool.append(readings)
        metrics.GATEWAY_SPOOL.labels(self.name, "spooled").inc(added)
        if dropped:
            metrics.GATEWAY_SPOOL.labels(self.name, "dropped").inc(dropped)
            logger.warning("spool full: the %d oldest readings were dropped", dropped)
        with self._lock:
            self.failing = failing
            self.rounds += 1
        self._upload_now.set()
        return len(readings)

    def _reader(self, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.read_round()
            except Exception:
                logger.exception("meter round failed")
            self._read_now.clear()
            with self._lock:
                wait = self.interval if self.meters else 3600.0
            self._read_now.wait(max(0.0, started + wait - time.monotonic()))

    # -- uploading ---------------------------------------------------------------------------

    def upload(self) -> int:
        """Sends the spool's head (if no batch is waiting for its acknowledgement) and the
        meters failing now. Returns how many readings went; raises if the uplink is down."""
        now = time.monotonic()
        with self._lock:
            waiting = self._sent_upto is not None and now - self._sent_at < self.ack_wait
            failing, rounds, list_call = dict(self.failing), self.rounds, self.list_call
        entries = [] if waiting else self.spool.head(self.batch)
        if not entries and (not failing or rounds == self._reported_round):
            return 0
        payload = {
            "readings": [
                {"seq": e.seq, "meter_id": e.meter_id, "reading": e.reading} for e in entries
            ],
            "failing": failing,
            "meter_list": list_call,
        }
        self.publish(UPLOAD_KIND, "", payload)
        with self._lock:
            self._reported_round = rounds
            if entries:
                self._sent_upto, self._sent_at = entries[-1].seq, now
        return len(entries)

    def ack_receive(self, upto: int) -> int:
        """The central side stored the readings up to ``upto``: they leave the spool and the
        next batch goes now. Returns how many left."""
        removed = self.spool.ack(upto)
        metrics.GATEWAY_SPOOL.labels(self.name, "uploaded").inc(removed)
        with self._lock:
            if self._sent_upto is not None and upto >= self._sent_upto:
                self._sent_upto = None
        self._upload_now.set()
        return removed

    def _uploader(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._upload_now.clear()
            try:
                sent = self.upload()
            except Exception as error:
                logger.warning("readings not uploaded yet (uplink down?): %s", error)
                sent = 0
            if not sent:
                self._upload_now.wait(min(self.ack_wait, max(self.interval, 1.0)))

    def start(self, stop: threading.Event) -> None:
        for target, label in ((self._reader, "reader"), (self._uploader, "uploader")):
            threading.Thread(
                target=target, args=(stop,), name=f"gateway-meters-{label}", daemon=True
            ).start()
        logger.info(
            "gateway %s: reading %d meters every %s s (spool: %d readings waiting)",
            self.name,
            len(self.meters),
            self.interval,
            self.spool.depth(),
        )
