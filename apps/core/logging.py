"""Logging filter that keeps secrets out of every log line."""

import logging
import re

_SECRET_PATTERN = re.compile(
    r"(?P<key>password|passwd|secret|token|bmc_password|authorization)"
    r"(?P<sep>['\"]?\s*[:=]\s*['\"]?)(?P<value>[^'\"\s,}&]+)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    return _SECRET_PATTERN.sub(lambda m: f"{m['key']}{m['sep']}***", text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites `password=...`-style fragments of a record's message to `password=***`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
