"""The gateway's meter-reading spool: what it read and the central side has not yet stored.

An SQLite file in the gateway's state directory (``spool.sqlite3``; no Django here). Every
reading the gateway takes goes in first (one committed, fsync'd transaction per round, so a
power cut loses at most the round being written) and leaves only when the central side says
it stored it (`ack`). The file is bounded: past ``max_readings`` entries, or for readings older
than ``max_age_s``, the oldest are dropped and counted (``dropped``, kept in the file and
reported in the heartbeat), so a month-long outage costs the oldest readings, not the disk.
A reading is keyed by (meter, read time): taking or appending it twice keeps it once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

FILE_NAME = "spool.sqlite3"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS reading (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " meter_id INTEGER NOT NULL, read_at TEXT NOT NULL, read_epoch REAL NOT NULL,"
    " body TEXT NOT NULL, UNIQUE (meter_id, read_at))",
    "CREATE INDEX IF NOT EXISTS reading_age ON reading (read_epoch)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


@dataclass(frozen=True)
class Entry:
    """One spooled reading: its place in the spool and what the meter said (plain dict)."""

    seq: int
    meter_id: int
    reading: dict[str, Any]


class Spool:
    """Readings waiting for the central side's acknowledgement, oldest first."""

    def __init__(
        self, state_dir: Path, *, max_readings: int = 200_000, max_age_s: float = 31 * 86400
    ):
        if max_readings < 1 or max_age_s <= 0:
            raise ValueError("a spool holds at least one reading for a positive time")
        self.path = Path(state_dir) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_readings, self.max_age_s = max_readings, max_age_s
        self._lock = threading.Lock()
        # one connection shared by the gateway's threads, serialised by the lock
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a committed round is on the disk
        for statement in _SCHEMA:
            self._db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def append(
        self, meter_readings: list[tuple[int, dict[str, Any]]], *, now: float | None = None
    ) -> tuple[int, int]:
        """Stores ``(meter_id, reading)`` pairs (``reading["read_at"]`` an ISO time, as
        ``read_epoch`` too); drops what is past the bounds. Returns (added, dropped)."""
        rows = [
            (
                int(meter_id),
                reading["read_at"],
                datetime.fromisoformat(reading["read_at"]).timestamp(),
                json.dumps(reading, sort_keys=True),
            )
            for meter_id, reading in meter_readings
        ]
        with self._lock, self._db:
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO reading (meter_id, read_at, read_epoch, body)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )
            added = self._db.total_changes - before
            dropped = self._trim(time.time() if now is None else now)
        return added, dropped

    def _trim(self, now: float) -> int:
        before = self._db.total_changes
        self._db.execute("DELETE FROM reading WHERE read_epoch < ?", (now - self.max_age_s,))
        # at most max_readings sequence numbers below the newest: at most that many readings
        # (AUTOINCREMENT never reuses one), found through the key rather than by counting
        self._db.execute(
            "DELETE FROM reading WHERE seq <= (SELECT max(seq) FROM reading) - ?",
            (self.max_readings,),
        )
        dropped = self._db.total_changes - before
        if dropped:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('dropped', ?) ON CONFLICT (key)"
                " DO UPDATE SET value = value + excluded.value",
                (dropped,),
            )
        return dropped

    def head(self, limit: int) -> list[Entry]:
        """The oldest ``limit`` readings, in the order they were taken."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, meter_id, body FROM reading ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [Entry(seq, meter_id, json.loads(body)) for seq, meter_id, body in rows]

    def ack(self, upto: int) -> int:
        """The central side stored every reading up to ``upto``: they leave. Returns how
        many left (none for an acknowledgement heard twice)."""
        with self._lock, self._db:
            return self._db.execute("DELETE FROM reading WHERE seq <= ?", (int(upto),)).rowcount

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM reading").fetchone()[0])

    def dropped(self) -> int:
        """Readings dropped over the spool's whole life (oldest first, past the bounds)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        return int(row[0]) if row else 0

    def oldest(self) -> str | None:
        """The read time of the oldest reading waiting (ISO), if any."""
        with self._lock:
            row = self._db.execute("SELECT read_at FROM reading ORDER BY seq LIMIT 1").fetchone()
        return row[0] if row else None

    def report(self) -> dict[str, Any]:
        """What the heartbeat tells the central side about the spool."""
        return {"depth": self.depth(), "dropped": self.dropped(), "oldest": self.oldest()}
