"""The single error type of the event-log code: every malformed input becomes an EventLogError."""


class EventLogError(ValueError):
    """A TCG event log (or one of its payloads) is malformed.

    ``offset`` is the byte offset in the log where the problem was found (-1 when the problem is
    not tied to a position, e.g. an unknown bank requested from ``replay``); ``reason`` is a short
    human sentence. ``str(err)`` is a one-line message suitable for a CLI.
    """

    def __init__(self, offset: int, reason: str) -> None:
        self.offset = offset
        self.reason = reason
        where = f"at offset {offset} (0x{offset:x})" if offset >= 0 else "in event log"
        super().__init__(f"malformed event log {where}: {reason}")
