"""The site gateway: a Celery worker for one site's hardware, without Django or a database.

``run_gateway --config FILE`` (or ``python -m apps.gateways.agent --config FILE``) reads one
TOML file (`config_load`), builds a Celery app that consumes only ``gw.<name>`` and runs it.
Each task opens the sealed BMC credentials with the gateway's key, calls the driver (plain data,
the same adapters as the central workers), and publishes a signed answer to the central results
exchange. Power actions are journalled on disk before anything is sent to a BMC, so a message
redelivered after the gateway was killed never repeats a reset or a cycle. Heat meters are read
on the gateway's own clock and spooled on disk until the central side has stored the readings
(`agent_meters`), so an uplink outage or a restart loses none.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import ssl
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_ready
from kombu import Exchange, Queue
from prometheus_client import start_http_server

from apps.gateways import agent_console, agent_firmware, crypto, images, tpm, wire
from apps.gateways.agent_meters import SiteMeters
from apps.gateways.spool import Spool
from apps.hardware.drivers.base import BmcEndpoint, BmcError, BootDevice, driver_for
from apps.hardware.sweep import sweep
from apps.ops import metrics

logger = logging.getLogger("heatsite.gateway")
VERSION = "1.2"  # 1.1: meter readings spooled and uploaded; 1.2: firmware calls, serial consoles
NOT_REPEATABLE = ("reset", "cycle")
POWER_ATTEMPTS = 3


class ConfigError(Exception):
    """The gateway's configuration file is missing, unreadable or incomplete."""


@dataclasses.dataclass(frozen=True)
class GatewayConfig:
    name: str
    broker_url: str
    private_key: Path
    state_dir: Path
    tls: dict[str, Any] = dataclasses.field(default_factory=dict)
    concurrency: int = 4
    bmc_timeout: float = 5.0
    heartbeat_interval: float = 30.0
    meter_interval: float = 10.0  # until the central side's meter list says otherwise
    spool_max_readings: int = 200_000
    spool_max_age_days: float = 31.0
    upload_batch: int = 500
    ack_wait: float = 60.0
    image_relay: images.RelayConfig | None = None  # [images]: the site's firmware-image relay


def config_load(path: str | Path) -> GatewayConfig:
    """Reads and checks the gateway's TOML file (see ``gateway/gateway.toml.example``)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    missing = [k for k in ("name", "broker_url", "private_key", "state_dir") if not data.get(k)]
    if missing:
        raise ConfigError(f"{path}: missing {', '.join(missing)}")
    if not wire.NAME_RE.match(str(data["name"])):
        raise ConfigError(f"{path}: name must be lower-case letters, digits and dashes")
    tls = data.get("tls", {})
    if not isinstance(tls, dict):
        raise ConfigError(f"{path}: [tls] must be a table")
    try:
        relay = images.relay_config(data.get("images") or {}, Path(data["state_dir"]))
    except (ValueError, TypeError, AttributeError) as error:
        raise ConfigError(f"{path}: {error}") from error
    return GatewayConfig(
        name=data["name"],
        broker_url=data["broker_url"],
        private_key=Path(data["private_key"]),
        state_dir=Path(data["state_dir"]),
        tls=tls,
        concurrency=int(data.get("concurrency", 4)),
        bmc_timeout=float(data.get("bmc_timeout", 5.0)),
        heartbeat_interval=float(data.get("heartbeat_interval", 30.0)),
        meter_interval=float(data.get("meter_interval", 10.0)),
        spool_max_readings=int(data.get("spool_max_readings", 200_000)),
        spool_max_age_days=float(data.get("spool_max_age_days", 31.0)),
        upload_batch=int(data.get("upload_batch", 500)),
        ack_wait=float(data.get("ack_wait", 60.0)),
        image_relay=relay,
    )


def _ssl_options(tls: dict[str, Any]) -> dict[str, Any] | None:
    if not tls:
        return None
    options: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED}
    if tls.get("ca_file"):
        options["ca_certs"] = tls["ca_file"]
    if tls.get("cert_file"):
        options["certfile"], options["keyfile"] = tls["cert_file"], tls.get("key_file")
    if tls.get("verify") is False:
        options["cert_reqs"] = ssl.CERT_NONE
    return options


class Journal:
    """One small file per power call in ``state_dir/calls``: "started" is on disk before the
    BMC hears anything, "done" keeps the answer to send again if the message comes back."""

    def __init__(self, state_dir: Path):
        self.dir = state_dir / "calls"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, call_id: str) -> Path:
        if not call_id.replace("-", "").isalnum():
            raise ValueError("bad call id")
        return self.dir / f"{call_id}.json"

    def get(self, call_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(call_id).read_text())
        except (OSError, ValueError):
            return None

    def unsent(self) -> list[tuple[str, dict[str, Any]]]:
        """Answers written but not yet published."""
        found = []
        for path in self.dir.glob("*.json"):
            entry = self.get(path.stem)
            if entry and entry.get("state") == "done" and not entry.get("sent", True):
                found.append((path.stem, entry))
        return found

    def put(self, call_id: str, entry: dict[str, Any]) -> None:
        path = self._path(call_id)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            json.dump(entry, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _reached(kind: str, state: str | None) -> bool:
    return (kind == "on" and state == "on") or (kind in ("off", "soft") and state == "off")


def _state(driver) -> str | None:
    try:
        return driver.power_state().state
    except Exception:  # best effort: the action's own outcome is already decided
        return None


def power_run(endpoint: BmcEndpoint, kind: str, params: dict, *, timeout: float) -> dict:
    """One power or boot-device action on a BMC: transient errors retried (bounded, the state
    re-read after each), fatal ones not. Plain data in, plain data out."""
    driver = None
    for attempt in range(1, POWER_ATTEMPTS + 1):
        try:
            driver = driver_for(endpoint, timeout=timeout)
            if kind == "bootdev":
                boot = driver.set_boot_device(BootDevice(**params))
                return {"ok": True, "boot": dataclasses.asdict(boot), "attempts": attempt}
            outcome = driver.power(kind)
            return {
                "ok": True,
                "changed": outcome.changed,
                "outcome_state": outcome.state,
                "state": _state(driver),
                "attempts": attempt,
            }
        except BmcError as error:
            state = _state(driver) if driver is not None else None
            if error.transient and attempt < POWER_ATTEMPTS:
                if _reached(kind, state):
                    return {"ok": True, "confirmed": True, "state": state, "attempts": attempt}
                time.sleep(2.0 * attempt)  # back-off between BMC attempts, bounded by 3 tries
                continue
            return {
                "ok": False,
                "cause": error.cause,
                "error": error.message,
                "state": state,
                "attempts": attempt,
            }
        except Exception as error:
            logger.exception("power action failed unexpectedly")
            return {
                "ok": False,
                "cause": "internal",
                "error": f"The gateway failed while sending the action ({type(error).__name__}).",
                "state": _state(driver) if driver is not None else None,
                "attempts": attempt,
            }
    raise AssertionError("unreachable")


def _result_dict(result) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "power_state": result.power_state,
        "sensors": [dataclasses.asdict(r) for r in result.sensors]
        if result.sensors is not None
        else None,
        "system_power_watts": result.system_power_watts,
        "cause": result.cause,
        "transient": result.transient,
        "message": result.message,
        "skipped": result.skipped,
        "backoff_until": result.backoff_until.isoformat() if result.backoff_until else None,
        "polled_at": result.polled_at.isoformat(),
    }


class Gateway:
    """The gateway's state: its config, keys, journal, meters and spool, and Celery app."""

    def __init__(self, config: GatewayConfig):
        self.config = config
        self.keys = crypto.keys_load(config.private_key)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(config.state_dir)
        self.queue = wire.queue_name(config.name)
        self.app = self._app()
        self.spool = Spool(
            config.state_dir,
            max_readings=config.spool_max_readings,
            max_age_s=config.spool_max_age_days * 86400,
        )
        self.meters = SiteMeters(
            name=config.name,
            keys=self.keys,
            state_dir=config.state_dir,
            spool=self.spool,
            # the uploader tries again on its own: a publish must not wait for the uplink
            publish=lambda kind, call_id, payload: self.publish(kind, call_id, payload, quick=True),
            interval=config.meter_interval,
            timeout=config.bmc_timeout,
            concurrency=config.concurrency,
            batch=config.upload_batch,
            ack_wait=config.ack_wait,
        )

    def _app(self) -> Celery:
        # fixups=[]: no Django fixup, even if DJANGO_SETTINGS_MODULE is set (no database here)
        app = Celery(f"heatsite-gateway-{self.config.name}", fixups=[], set_as_current=False)
        queue = Queue(self.queue, Exchange(self.queue, "direct"), routing_key=self.queue)
        app.conf.update(
            broker_url=self.config.broker_url,
            broker_use_ssl=_ssl_options(self.config.tls),
            broker_connection_retry_on_startup=True,
            broker_connection_max_retries=None,  # an uplink may be down for days: never give up
            task_queues=[queue],
            task_default_queue=self.queue,
            task_serializer="json",
            accept_content=["json"],
            worker_prefetch_multiplier=1,
            worker_enable_remote_control=False,  # no pidbox: the user may touch its queue only
            worker_send_task_events=False,
            task_acks_late=True,
            task_reject_on_worker_lost=True,
            worker_hijack_root_logger=False,
        )

        # shared=False: each gateway app has its own tasks (several in one test process)
        @app.task(name=wire.POWER_TASK, acks_late=True, reject_on_worker_lost=True, shared=False)
        def power(call: dict[str, Any]) -> str:
            return self.power_call(call)

        @app.task(name=wire.BMC_POLL_TASK, shared=False)
        def bmc_poll(call: dict[str, Any]) -> int:
            return self.bmc_poll_call(call)

        @app.task(name=wire.METER_POLL_TASK, shared=False)
        def meter_poll(call: dict[str, Any]) -> int:
            return self.meter_list_call(call)

        @app.task(name=wire.SPOOL_ACK_TASK, shared=False)
        def spool_ack(ack: dict[str, Any]) -> int:
            return self.spool_ack_call(ack)

        tpm.register(app, self)  # TPM quotes and enrolment, asked of the site's node agents
        agent_firmware.register(app, self)  # Redfish firmware-update calls (apps.gateways.firmware)
        return app

    # -- answering -------------------------------------------------------------------------

    def publish(
        self, kind: str, call_id: str, payload: dict[str, Any], *, quick: bool = False
    ) -> None:
        """Signs and sends an answer; waits for the uplink up to ~25 minutes (``quick``: a few
        seconds, for callers that try again on their own)."""
        document = wire.envelope(
            gateway=self.config.name,
            kind=kind,
            call_id=call_id,
            payload=payload,
            version=VERSION,
        )
        self.app.send_task(
            wire.RESULT_TASK,
            args=[document, crypto.sign(self.keys, document)],
            exchange=wire.RESULTS_EXCHANGE,
            routing_key=wire.RESULTS_QUEUE,
            retry=True,
            # the uplink may be down for a while: keep trying, the central deadline decides
            retry_policy={
                "max_retries": 2 if quick else 60,
                "interval_start": 1,
                "interval_step": 2,
                "interval_max": 30,
            },
        )

    def _open(self, call: dict[str, Any]) -> Any:
        return crypto.unseal(self.keys, call["sealed"], aad=f"{self.config.name}:{call['call_id']}")

    # -- tasks -----------------------------------------------------------------------------

    def _valid(self, call: Any) -> bool:
        fields = ("call_id", "gateway", "start_by", "sealed")
        if not isinstance(call, dict) or any(f not in call for f in fields):
            logger.warning("a malformed call was ignored")
            return False
        if call["gateway"] != self.config.name:
            logger.warning("call %s is not addressed to this gateway: ignored", call["call_id"])
            return False
        return True

    def power_call(self, call: dict[str, Any]) -> str:
        if not self._valid(call) or "kind" not in call:
            return "ignored"
        call_id = call["call_id"]
        entry = self.journal.get(call_id)
        if entry and entry.get("state") == "done":
            self.answer_send(call_id, entry)  # the answer may have been lost
            return "resent"
        if time.time() > float(call["start_by"]):
            # too late to start: the central side fails it at its deadline
            logger.warning("call %s arrived after its start-by time: not run", call_id)
            return "expired"
        if entry and call["kind"] in NOT_REPEATABLE:
            result = {
                "ok": False,
                "cause": "interrupted",
                "error": "The gateway stopped while this action was being sent. It was not "
                "repeated (a second reset would interrupt the boot); check the node's state.",
                "state": None,
            }
        else:
            try:
                secret = self._open(call)
            except crypto.SealError as error:
                result = {"ok": False, "cause": "sealed", "error": str(error), "state": None}
            else:
                self.journal.put(call_id, {"state": "started", "at": time.time()})
                endpoint = BmcEndpoint(**secret["endpoint"])
                result = power_run(
                    endpoint,
                    call["kind"],
                    call.get("params") or {},
                    timeout=self.config.bmc_timeout,
                )
        entry = {"state": "done", "result": result, "at": time.time(), "sent": False}
        self.journal.put(call_id, entry)
        self.answer_send(call_id, entry)
        return "done"

    def answer_send(self, call_id: str, entry: dict[str, Any]) -> bool:
        """Publishes a journalled answer; one that could not go (uplink down) stays unsent in
        the journal and the heartbeat sends it again (the central side takes it once)."""
        try:
            self.publish("power", call_id, entry["result"])
        except Exception:
            logger.warning("answer to call %s not sent yet", call_id, exc_info=True)
            return False
        self.journal.put(call_id, {**entry, "sent": True})
        return True

    def bmc_poll_call(self, call: dict[str, Any]) -> int:
        if not self._valid(call) or time.time() > float(call["start_by"]):
            return 0
        call_id = call["call_id"]
        secret = self._open(call)
        node_ids = [item["node_id"] for item in secret["endpoints"]]
        endpoints = [BmcEndpoint(**item["endpoint"]) for item in secret["endpoints"]]
        results = sweep(
            endpoints,
            max_concurrency=self.config.concurrency * 4,
            per_site_limit=None,
            timeout=self.config.bmc_timeout,
            sensors=True,
        )
        self.publish(
            "bmc_poll",
            call_id,
            {
                "results": [
                    {"node_id": n, **_result_dict(r)}
                    for n, r in zip(node_ids, results, strict=True)
                ]
            },
        )
        return len(results)

    def meter_list_call(self, call: dict[str, Any]) -> int:
        """The site's meter list: kept (on disk) and read on the gateway's own clock."""
        if not self._valid(call) or time.time() > float(call["start_by"]):
            return 0
        try:
            return self.meters.list_receive(call)
        except crypto.SealError as error:
            logger.warning("meter list %s refused: %s", call["call_id"], error)
            return 0

    def spool_ack_call(self, ack: Any) -> int:
        """The central side stored the spooled readings up to ``ack["upto"]``."""
        if not isinstance(ack, dict) or ack.get("gateway") != self.config.name:
            logger.warning("a malformed or misaddressed acknowledgement was ignored")
            return 0
        try:
            upto = int(ack["upto"])
        except (KeyError, TypeError, ValueError):
            return 0
        return self.meters.ack_receive(upto)

    # -- heartbeat --------------------------------------------------------------------------

    def heartbeat_start(self) -> threading.Event:
        stop = threading.Event()
        relay = self.config.image_relay

        def beat() -> None:
            while not stop.is_set():
                try:
                    self.publish(
                        wire.HEARTBEAT_KIND,
                        "",
                        {
                            "queue": self.queue,
                            "spool": self.spool.report(),
                            "image_url": relay.public_url if relay else "",
                        },
                        quick=True,
                    )
                except Exception:
                    logger.warning("heartbeat not sent", exc_info=True)
                else:
                    for call_id, entry in self.journal.unsent():
                        self.answer_send(call_id, entry)
                stop.wait(self.config.heartbeat_interval)

        threading.Thread(target=beat, name="gateway-heartbeat", daemon=True).start()
        return stop

    def run(self) -> None:
        metrics_serve()  # WORKER_METRICS_PORT set: /metrics of this gateway (see below)
        # meters are read from the start, before (and whether or not) the broker answers
        self.meters.start(threading.Event())
        agent_console.consoles_start(self)  # the site's serial consoles, on gw.<name>.console
        if self.config.image_relay is not None:
            images.ImageRelay(self.config.image_relay).start()  # the site's BMCs fetch images here
        worker_ready.connect(lambda **_: self.heartbeat_start(), weak=False)
        self.app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={self.config.concurrency}",
                "-Q",
                self.queue,
                "-n",
                f"{self.config.name}@%h",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=INFO",
            ]
        )


# -- metrics (Prometheus) ---------------------------------------------------------------------
# The gateway runs without Django, so apps.ops.celery_signals (the central workers' hook) is not
# loaded here: the same metrics (apps.ops.metrics, no Django) are counted and served by these.

_task_started: dict[str, float] = {}


def _task_prerun(task_id=None, **_) -> None:
    if task_id:
        _task_started[task_id] = time.perf_counter()


def _task_postrun(task_id=None, task=None, state=None, **_) -> None:
    started = _task_started.pop(task_id, None)
    if started is not None and task is not None:
        elapsed = time.perf_counter() - started
        metrics.TASK_SECONDS.labels(task.name, state or "UNKNOWN").observe(elapsed)
        if task.name == wire.BMC_POLL_TASK:
            metrics.SWEEP_SECONDS.labels("gateway_bmc").observe(elapsed)


def metrics_serve(environ: dict[str, str] | None = None) -> WSGIServer | None:
    """With ``WORKER_METRICS_PORT`` set (as for central workers), counts task run times and
    serves /metrics (task times, sweep times, BMC errors by cause, counted in
    apps.hardware.sweep) on ``WORKER_METRICS_ADDR`` (default loopback). Returns the server
    (its ``server_port``); a bad port or address stops the gateway with a message."""
    environ = os.environ if environ is None else environ
    port = environ.get("WORKER_METRICS_PORT")
    if not port:
        return None
    addr = environ.get("WORKER_METRICS_ADDR", "127.0.0.1")
    try:
        registry = metrics.scrape_registry()
        server, _thread = start_http_server(int(port), addr=addr, registry=registry)
    except (ValueError, OSError) as error:
        raise SystemExit(f"run_gateway: cannot serve metrics on {addr}:{port}: {error}") from None
    task_prerun.connect(_task_prerun, weak=False, dispatch_uid="heatsite-gateway-prerun")
    task_postrun.connect(_task_postrun, weak=False, dispatch_uid="heatsite-gateway-postrun")
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Heatsite site gateway (one site's hardware).")
    parser.add_argument("--config", required=True, help="the gateway's TOML file")
    options = parser.parse_args(argv)
    try:
        gateway = Gateway(config_load(options.config))
    except (ConfigError, crypto.SealError) as error:
        print(f"run_gateway: {error}", file=sys.stderr)
        return 2
    gateway.run()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
