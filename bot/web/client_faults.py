"""Client faults are the client's problem: one INFO line each, never an ERROR with a traceback.

aiohttp logs a client that hangs up mid-request, or sends a malformed or oversized request
line or header, through `aiohttp.server` as an error with a traceback. On a public webhook
endpoint those are everyday noise that would bury real errors (and a traceback can quote
the attacker's bytes at length).
"""

from __future__ import annotations

import logging

from aiohttp import http_exceptions
from typing_extensions import override

#: Errors a client causes: hanging up, or a request that is not valid HTTP.
CLIENT_FAULTS: tuple[type[BaseException], ...] = (
    ConnectionResetError,
    BrokenPipeError,
    http_exceptions.BadHttpMessage,  # LineTooLong, bad status lines, bad headers, …
)


class ClientFaults(logging.Filter):
    """Rewrites aiohttp's record of a client fault as one short INFO line."""

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        fault = record.exc_info[1] if record.exc_info else None
        if isinstance(fault, CLIENT_FAULTS):
            what = " ".join(str(fault).split())[:200]
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "client fault: %s: %s", (type(fault).__name__, what)
            record.exc_info, record.exc_text = None, None
        return True


def quiet_client_faults(logger: logging.Logger | None = None) -> None:
    """Install the filter on aiohttp's server logger, once."""
    target = logger or logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientFaults) for f in target.filters):
        target.addFilter(ClientFaults())
