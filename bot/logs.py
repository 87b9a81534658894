"""Structured JSON logging, with every configured secret redacted before a record is written."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import IO, Any

from pythonjsonlogger.orjson import OrjsonFormatter

REDACTED = "[redacted]"
_MIN_SECRET_LENGTH = 4  # redacting shorter strings would shred ordinary words


class RedactSecrets(logging.Filter):
    """Replace secret values wherever they appear: message, arguments or `extra` fields."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in set(secrets) if s and len(s) >= _MIN_SECRET_LENGTH)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._scrub(v) for v in value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg = self._scrub(str(record.msg))
        if record.args:
            record.args = self._scrub(record.args)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS:
                record.__dict__[key] = self._scrub(value)
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now so the redacted text is what gets written.
            record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def configure_logging(
    level: str, secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> logging.Handler:
    """Send every record to `stream` (stderr) as one JSON object per line."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        OrjsonFormatter("{levelname}{name}{message}", style="{", timestamp=True,
                        rename_fields={"levelname": "level", "name": "logger"})
    )
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return handler
