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
import threading
import time
from collections.abc import Iterable
from typing import IO, Any

import orjson
from typing_extensions import override

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

    @override
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC),  # orjson: RFC 3339
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = record.__dict__
        for key in fields:
            if key not in _STANDARD_ATTRS and key[0] != "_":
                entry[key] = fields[key]
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        line = orjson.dumps(entry, default=str).decode()
        return self.redact(line)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class BatchingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes lines in batches: one write per `interval`, not per record.

    A busy server logs a line per delivery, and a write to stderr per line costs more than
    formatting it. Warnings and errors are written at once; other lines wait at most
    `interval` seconds (a daemon thread flushes quiet periods). A SIGKILL can lose at most
    that much of the log; the journal, not the log, is the durable record.
    """

    def __init__(self, stream: IO[str], interval: float = 0.1) -> None:
        super().__init__(stream)
        self._interval = interval
        self._pending: list[str] = []
        self._last_write = time.monotonic()
        self._stopped = threading.Event()
        threading.Thread(target=self._flush_periodically, name="log-flush", daemon=True).start()

    @override
    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pending.append(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING or (
                time.monotonic() - self._last_write >= self._interval
            ):
                self._write_pending()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging's contract: report, never raise
            self.handleError(record)

    @override
    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_pending()

    @override
    def close(self) -> None:
        self._stopped.set()
        super().close()

    def _write_pending(self) -> None:
        if self._pending:
            lines, self._pending = "".join(self._pending), []
            self.stream.write(lines)
            self.stream.flush()
        self._last_write = time.monotonic()

    def _flush_periodically(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self.flush()
            except (OSError, ValueError):  # stream closed under us at exit
                return


def configure_logging(
    level: str, secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> BatchingStreamHandler:
    """Send every record to `stream` (stderr) as one JSON object per line."""
    # The logging HOWTO's optimisations: skip gathering what the format never shows (the
    # caller's file and line, thread and process names). One record per delivery adds up.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    handler = BatchingStreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if isinstance(old, BatchingStreamHandler):
            old.close()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
