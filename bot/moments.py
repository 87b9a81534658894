"""How the operator's commands print a moment: UTC, to the second."""

from __future__ import annotations

import datetime


def utc(ts: float | None) -> str | None:
    """`2026-12-01 02:46:07` for a Unix time; None stays None."""
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
