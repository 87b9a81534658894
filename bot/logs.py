"""Structured JSON logging, one object per line, with every configured secret redacted.

A small orjson formatter rather than a logging library: the dispatcher writes one record per
delivery, and this costs a fraction of what a general-purpose JSON formatter does.
Redaction happens on the finished line, so a secret is caught wherever it appears: message,
arguments, `extra` fields or a traceback.
"""

from __future__ import annotations

import datetime
import logging
import sys
from collections.abc import Iterable
from typing import IO, Any

import orjson

REDACTED = "[redacted]"
_MIN_SECRET_LENGTH = 4  # redacting shorter strings would shred ordinary words
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Render a record as `{"ts", "level", "logger", "message", **extra}`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        needles: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= _MIN_SECRET_LENGTH:
                needles.add(secret)
                needles.add(orjson.dumps(secret).decode()[1:-1])  # as it looks inside JSON
        self._secrets = tuple(sorted(needles, key=len, reverse=True))

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        line = orjson.dumps(entry, default=str).decode()
        return self.redact(line)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def configure_logging(
    level: str, secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> logging.Handler:
    """Send every record to `stream` (stderr) as one JSON object per line."""
    # The logging HOWTO's optimisations: skip gathering what the format never shows (the
    # caller's file and line, thread and process names). One record per delivery adds up.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
