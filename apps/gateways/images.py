"""The site gateway's image relay: BMCs fetch firmware images from the gateway, on the site's
network, never from the central side. No Django here.

A gateway site's `SimpleUpdate` ``ImageURI`` is ``<relay url>/images/<sha256>/<token>/``, made
centrally (`firmware.image_urls`) with the update's one-time token. The relay hands every token
to the central image URL first: the central side still says whether this fetch may have the
image (signed, unexpired, unused, audited). An image not yet here is downloaded once, checked
against the SHA-256 in the URL (the central side's digest of the stored image), kept by digest
in ``state_dir/images``, and served; with the image already kept, the relay asks for the yes
only (``?have=<sha256>``: 204, no bytes), so a site's BMCs flashing the same image cost one
download over the uplink.

The store is bounded (`store_prune`, after every download and at start): images not used for
``max_age_days`` go, then the least recently used until it holds at most ``max_bytes``; an
image a firmware call of a running update named within ``keep_active_hours`` (its pin, touched
by every such call: `store_pin`) is never removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import shutil
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger("heatsite.gateway")
PATH_RE = re.compile(r"^/images/([0-9a-f]{64})/([A-Za-z0-9_:\-]{1,1000})/?$")
DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 16


class RelayRefused(Exception):
    """A fetch the relay answers without an image: ``status`` and the central side's words."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json"):
        super().__init__(status)
        self.status, self.body, self.content_type = status, body, content_type


@dataclasses.dataclass(frozen=True)
class RelayConfig:
    listen: str  # address the BMCs' requests arrive on (the site network)
    port: int
    public_url: str  # the relay as the BMCs reach it: their ImageURI starts with it
    central_url: str  # the central side's image base (its FIRMWARE_IMAGE_BASE_URL)
    cache_dir: Path
    ca_file: str = ""  # the central side's CA, if not the system's
    timeout: float = 60.0
    max_bytes: int = 10 * 1024**3  # the store's bound: least recently used images go first
    max_age_days: float = 30.0  # an image unused this long goes
    keep_active_hours: float = 48.0  # an image a running update named this recently stays


def url_valid(url: Any) -> bool:
    parts = urlsplit(url) if isinstance(url, str) and len(url) <= 200 else None
    return bool(parts and parts.scheme in ("http", "https") and parts.hostname)


def relay_config(table: dict[str, Any], state_dir: Path) -> RelayConfig | None:
    """The ``[images]`` table of the gateway's TOML file; None without one (no relay: its BMCs
    fetch from the central side). Raises ValueError naming what is wrong."""
    if not table:
        return None
    if not isinstance(table, dict):
        raise ValueError("[images] must be a table")
    for key in ("public_url", "central_url"):
        if not url_valid(table.get(key)):
            raise ValueError(f"[images] {key} must be an http(s) URL")
    if not table.get("listen"):
        # no default: the relay listens on the site network's address only, named here
        raise ValueError("[images] listen must name the address the site's BMCs reach")
    try:
        port, timeout = int(table.get("port", 8089)), float(table.get("timeout", 60.0))
        max_bytes = int(table.get("max_bytes", 10 * 1024**3))
        max_age_days = float(table.get("max_age_days", 30.0))
        keep_active_hours = float(table.get("keep_active_hours", 48.0))
    except (TypeError, ValueError):
        raise ValueError("[images] port, timeout and the store's bounds must be numbers") from None
    if max_bytes < 0 or max_age_days <= 0 or keep_active_hours <= 0:
        raise ValueError("[images] max_bytes, max_age_days and keep_active_hours must be positive")
    if not 0 <= port <= 65535:
        raise ValueError("[images] port must be between 0 and 65535")
    return RelayConfig(
        listen=str(table["listen"]),
        port=port,
        public_url=str(table["public_url"]).rstrip("/"),
        central_url=str(table["central_url"]).rstrip("/"),
        cache_dir=state_dir / "images",
        ca_file=str(table.get("ca_file", "")),
        timeout=timeout,
        max_bytes=max_bytes,
        max_age_days=max_age_days,
        keep_active_hours=keep_active_hours,
    )


@dataclasses.dataclass(frozen=True)
class Pruned:
    removed: list[str]  # digests, least recently used first
    kept_bytes: int


def store_pin(cache_dir: Path, digest: str, *, now: float | None = None) -> None:
    """Marks ``digest`` as named by a running update now (its pin's mtime)."""
    if not DIGEST_RE.match(digest):
        raise ValueError("not a SHA-256 digest")
    cache_dir.mkdir(parents=True, exist_ok=True)
    pin = cache_dir / f"{digest}.pin"
    pin.touch()
    if now is not None:
        os.utime(pin, (now, now))


def store_prune(config: RelayConfig, *, now: float | None = None) -> Pruned:
    """Bounds the store (see the module docstring); returns what went and what is left."""
    now = time.time() if now is None else now
    keep_after = now - config.keep_active_hours * 3600
    kept: list[tuple[float, str, int]] = []  # (last use, digest, size)
    removed: list[str] = []
    for path in list(config.cache_dir.iterdir()):
        try:  # (another thread may prune or download at the same time)
            stat = path.stat()
            if path.suffix == ".pin" and stat.st_mtime < keep_after:
                path.unlink(missing_ok=True)  # an update that stopped naming it long ago
            if path.suffix == ".part" and stat.st_mtime < now - 86400:
                path.unlink(missing_ok=True)  # a download a crash left behind
        except FileNotFoundError:
            continue
        if DIGEST_RE.match(path.name):
            kept.append((stat.st_mtime, path.name, stat.st_size))
    kept.sort()

    def pinned(digest: str) -> bool:
        try:
            return (config.cache_dir / f"{digest}.pin").stat().st_mtime >= keep_after
        except FileNotFoundError:
            return False

    total = sum(size for _, _, size in kept)
    for used, digest, size in list(kept):
        too_old = used < now - config.max_age_days * 86400
        if (too_old or total > config.max_bytes) and not pinned(digest):
            (config.cache_dir / digest).unlink(missing_ok=True)
            removed.append(digest)
            total -= size
    if removed:
        logger.info("image relay: %d image(s) pruned, %d bytes kept", len(removed), total)
    return Pruned(removed, total)


class ImageRelay:
    """Serves images to the site's BMCs, each fetched from the central side once."""

    def __init__(self, config: RelayConfig):
        self.config = config
        config.cache_dir.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.downloads = 0  # images fetched whole from the central side (tests, logs)
        self.server: ThreadingHTTPServer | None = None
        context = ssl.create_default_context(cafile=config.ca_file or None)
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))

    def _lock(self, digest: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(digest, threading.Lock())

    def _central(self, token: str, have: str = ""):
        url = f"{self.config.central_url}/firmware/images/{token}/"
        if have:
            url += f"?have={have}"
        try:
            return self._opener.open(url, timeout=self.config.timeout)
        except urllib.error.HTTPError as refused:
            # the central side's own refusal (403 bad link, 410 used or expired), passed on
            raise RelayRefused(
                refused.code,
                refused.read(4096),
                refused.headers.get("Content-Type", "application/json"),
            ) from None
        except (OSError, ValueError) as error:
            logger.warning("image relay: the central side did not answer: %s", error)
            detail = b'{"detail": "The site gateway cannot reach Heatsite."}'
            raise RelayRefused(502, detail) from None

    def obtain(self, digest: str, token: str) -> Path:
        """The image ``digest`` for the fetch ``token`` allows; `RelayRefused` otherwise."""
        path = self.config.cache_dir / digest
        with self._lock(digest):
            if path.exists():
                with self._central(token, have=digest) as answer:
                    if answer.status == 204:
                        os.utime(path)  # last use: the store prunes the least recent first
                        return path
                    # the central side sent the bytes anyway: take them as a fresh download
                    self._download(answer, digest, path)
                    return path
            with self._central(token) as answer:
                self._download(answer, digest, path)
            return path

    def _download(self, answer: Any, digest: str, path: Path) -> None:
        # a name of its own: the gateway's firmware calls (a push) may download the same image
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f"{digest}.", suffix=".part")
        tmp = Path(name)
        sha = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            while chunk := answer.read(CHUNK):
                sha.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if sha.hexdigest() != digest:
            tmp.unlink(missing_ok=True)
            logger.warning("image relay: the image downloaded for %s has another digest", digest)
            raise RelayRefused(
                502, b'{"detail": "The image did not match its digest; it was not served."}'
            )
        os.replace(tmp, path)
        self.downloads += 1
        store_prune(self.config)

    def prune(self) -> Pruned:
        with self._guard:
            return store_prune(self.config)

    def start(self) -> ThreadingHTTPServer:
        """Serves the site's BMCs on ``listen:port`` in a daemon thread."""
        relay = self
        self.prune()

        class Handler(BaseHTTPRequestHandler):
            server_version = "heatsite-gateway"

            def do_GET(self) -> None:
                match = PATH_RE.match(self.path)
                if match is None:
                    return self._answer(404, b'{"detail": "Not an image link."}')
                try:
                    path = relay.obtain(match.group(1), match.group(2))
                except RelayRefused as refused:
                    return self._answer(refused.status, refused.body, refused.content_type)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(path.stat().st_size))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-SHA256", match.group(1))
                self.end_headers()
                with open(path, "rb") as image:
                    shutil.copyfileobj(image, self.wfile, CHUNK)

            def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                # the path holds a one-time token: logged without it
                logger.info("image relay: %s %s", self.address_string(), args[1:] if args else "")

        self.server = ThreadingHTTPServer((self.config.listen, self.config.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, name="gateway-image-relay", daemon=True
        ).start()
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
