"""The gateway's image store is bounded: by age, then by size (least recently used first), and
an image a running update still names (its pin) is never removed. Times are given, not waited."""

import hashlib
import os
import time

import pytest

from apps.gateways import images

DAY = 86400.0


def _store(tmp_path, **bounds):
    table = {
        "listen": "127.0.0.1",
        "public_url": "http://127.0.0.1:8089",
        "central_url": "http://127.0.0.1:8000",
        **bounds,
    }
    config = images.relay_config(table, tmp_path)
    config.cache_dir.mkdir(parents=True, exist_ok=True)
    return config


def _image(config, body: bytes, *, used: float) -> str:
    digest = hashlib.sha256(body).hexdigest()
    path = config.cache_dir / digest
    path.write_bytes(body)
    os.utime(path, (used, used))
    return digest


def test_the_oldest_unpinned_images_go_first_until_the_store_fits(tmp_path):
    now = time.time()
    config = _store(tmp_path, max_bytes=2500)
    oldest = _image(config, b"a" * 1000, used=now - 3 * DAY)
    running = _image(config, b"b" * 1000, used=now - 2 * DAY)
    middle = _image(config, b"c" * 1000, used=now - 1 * DAY)
    newest = _image(config, b"d" * 1000, used=now - 60)
    images.store_pin(config.cache_dir, running, now=now - 600)  # a running update named it
    (config.cache_dir / f"{newest}.part").write_bytes(b"x")  # a download in progress: kept
    crashed = config.cache_dir / f"{oldest}.1.part"  # one a crash left two days ago: removed
    crashed.write_bytes(b"y")
    os.utime(crashed, (now - 2 * DAY, now - 2 * DAY))

    pruned = images.store_prune(config, now=now)
    # 4000 bytes for 2500: the oldest goes, the pinned one stays, then the next oldest
    assert pruned.removed == [oldest, middle]
    assert pruned.kept_bytes == 2000
    left = sorted(p.name for p in config.cache_dir.iterdir())
    assert left == sorted([running, f"{running}.pin", newest, f"{newest}.part"])


def test_images_unused_for_max_age_go_even_when_the_store_has_room(tmp_path):
    now = time.time()
    config = _store(tmp_path, max_age_days=7)
    stale = _image(config, b"old", used=now - 8 * DAY)
    pinned_stale = _image(config, b"old but flashing", used=now - 8 * DAY)
    fresh = _image(config, b"new", used=now - 6 * DAY)
    images.store_pin(config.cache_dir, pinned_stale, now=now - 3600)
    assert images.store_prune(config, now=now).removed == [stale]
    assert (config.cache_dir / fresh).exists() and (config.cache_dir / pinned_stale).exists()


def test_a_pin_not_renewed_within_keep_active_hours_protects_nothing(tmp_path):
    now = time.time()
    config = _store(tmp_path, max_bytes=0, keep_active_hours=24)
    done = _image(config, b"an update that ended", used=now - 3600)
    images.store_pin(config.cache_dir, done, now=now - 25 * 3600)
    assert images.store_prune(config, now=now).removed == [done]
    assert list(config.cache_dir.iterdir()) == []  # the stale pin went too


def test_the_store_bounds_are_read_and_checked_from_the_config(tmp_path):
    config = _store(tmp_path)
    assert (config.max_bytes, config.max_age_days, config.keep_active_hours) == (
        10 * 1024**3,
        30.0,
        48.0,
    )
    with pytest.raises(ValueError, match="must be positive"):
        _store(tmp_path, max_age_days=0)
    with pytest.raises(ValueError, match="must be numbers"):
        _store(tmp_path, max_bytes="lots")
    with pytest.raises(ValueError, match="SHA-256"):
        images.store_pin(tmp_path, "../../etc/passwd")


def test_the_relay_prunes_after_a_download_and_keeps_what_it_serves(tmp_path):
    """A new image over the bound pushes the least recently served one out, never itself."""
    now = time.time()
    config = _store(tmp_path, max_bytes=1500)
    old = _image(config, b"o" * 1000, used=now - DAY)
    relay = images.ImageRelay(config)
    body = b"n" * 1000
    digest = hashlib.sha256(body).hexdigest()

    class Answer:
        def __init__(self):
            self.chunks = [body, b""]

        def read(self, _size):
            return self.chunks.pop(0)

    relay._download(Answer(), digest, config.cache_dir / digest)
    assert sorted(p.name for p in config.cache_dir.iterdir()) == [digest]
    assert relay.downloads == 1 and old not in os.listdir(config.cache_dir)
