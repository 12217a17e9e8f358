"""Reads of the console app: recorded logs of a node and its recent console sessions."""

from __future__ import annotations

import dataclasses
import datetime
import re
from pathlib import Path

from apps.console.conf import node_log_dir
from apps.console.models import ConsoleSession

LOG_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}\.log$")
# CSI/OSC escape sequences and other control characters, for reading a log as text
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclasses.dataclass(frozen=True)
class ConsoleLog:
    """One day of a node's console output."""

    name: str
    size: int
    modified: datetime.datetime

    @property
    def day(self) -> str:
        return self.name.removesuffix(".log")


def console_logs(*, node_id: int) -> list[ConsoleLog]:
    """The node's log files, newest day first (empty when nothing was recorded)."""
    folder = node_log_dir(node_id)
    if not folder.is_dir():
        return []
    logs = []
    for path in folder.iterdir():
        if LOG_NAME.match(path.name) and path.is_file():
            stat = path.stat()
            modified = datetime.datetime.fromtimestamp(stat.st_mtime, tz=datetime.UTC)
            logs.append(ConsoleLog(name=path.name, size=stat.st_size, modified=modified))
    return sorted(logs, key=lambda log: log.name, reverse=True)


def console_log_path(*, node_id: int, name: str) -> Path:
    """The path of one log; LookupError for a name that is not a log of this node."""
    if not LOG_NAME.match(name):
        raise LookupError("No such console log.")
    path = node_log_dir(node_id) / name
    if not path.is_file():
        raise LookupError("No such console log.")
    return path


def console_log_text(*, path: Path, limit: int = 262144) -> tuple[str, bool]:
    """The last `limit` bytes of a log as readable text, and whether earlier bytes were cut."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size > limit:
            handle.seek(size - limit)
        raw = handle.read()
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    return CONTROL.sub("", ANSI.sub("", text)), size > limit


def console_sessions(*, node_id: int, limit: int = 20) -> list[ConsoleSession]:
    """The node's most recent console sessions (who watched, when)."""
    return list(ConsoleSession.objects.filter(node_id=node_id)[:limit])
