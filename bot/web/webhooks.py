"""The webhook endpoint: verify, parse, journal durably, then answer. Nothing slow runs here."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3

import simdjson
from aiohttp import web
from gidgethub import ValidationFailure, sansio

from bot.intake.delivery import Delivery, Incoming, describe
from bot.intake.journal import JournalClosed
from bot.web.keys import DISPATCHER, JOURNAL, JSON_PARSER, SETTINGS, UNVERIFIED
from bot.web.unverified import Unverified

log = logging.getLogger(__name__)

#: GitHub caps webhook payloads at 25 MB and does not deliver larger ones.
MAX_BODY_BYTES = 25 * 1024 * 1024
#: GitHub gives up on a delivery after 10 s; a body still arriving then is nobody's.
BODY_DEADLINE_S = 10.0
_SIGNATURE = re.compile(r"sha256=[0-9a-fA-F]{64}")
_BOM = b"\xef\xbb\xbf"
#: Bodies up to this size reuse the app's parser; larger ones get a throwaway parser, so
#: one huge delivery does not leave a huge buffer behind.
_REUSE_PARSER_UP_TO = 1024 * 1024


class _BodyRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def _read_body(request: web.Request, held: Unverified) -> bytes:
    """The body, read within GitHub's limits of size and time, chunked or not. Until it is
    verified it is anyone's: what it holds counts against the cap for unverified bodies."""
    content = request.content
    if content.is_eof() and content.total_bytes <= MAX_BODY_BYTES:
        # All of it arrived with the headers (most deliveries): nothing to wait for or bound.
        return await content.read()
    chunks: list[bytes] = []
    taken = 0
    try:
        async with asyncio.timeout(BODY_DEADLINE_S):
            while chunk := await content.readany():
                if taken + len(chunk) > MAX_BODY_BYTES:
                    raise _BodyRefused(413, "payload larger than GitHub's 25 MB limit")
                if not held.take(len(chunk)):
                    raise _BodyRefused(503, "too many deliveries arriving at once; redeliver")
                taken += len(chunk)
                chunks.append(chunk)
    except TimeoutError:
        raise _BodyRefused(408, f"the body did not arrive within {BODY_DEADLINE_S:.0f} s") from None
    finally:
        held.give_back(taken)
    return b"".join(chunks)


def _reject(status: int, reason: str, request: web.Request) -> web.Response:
    """Answer with a reason GitHub shows under the App's "Recent Deliveries"."""
    log.info(
        "webhook rejected",
        extra={
            "status": status,
            "reason": reason,
            "delivery_id": request.headers.get("X-GitHub-Delivery"),
            "event": request.headers.get("X-GitHub-Event"),
            "remote": request.remote,
        },
    )
    response = web.json_response({"error": reason}, status=status)
    if status in (408, 413, 503):
        response.force_close()  # whatever the client still sends is not read
    return response


async def receive_webhook(request: web.Request) -> web.Response:
    """Accept one delivery: 202 once it is committed to the journal, 200 for a repeat."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _reject(413, "payload larger than GitHub's 25 MB limit", request)
    signature = request.headers.get("X-Hub-Signature-256")
    if not signature:
        return _reject(401, "missing X-Hub-Signature-256 (sha256) signature", request)
    if not _SIGNATURE.fullmatch(signature):
        return _reject(
            401,
            "malformed X-Hub-Signature-256 signature: expected sha256= and 64 hex digits",
            request,
        )
    try:
        body = await _read_body(request, request.app[UNVERIFIED])
    except _BodyRefused as refused:
        return _reject(refused.status, refused.reason, request)
    secret = request.app[SETTINGS].webhook_secret
    assert secret is not None  # the server does not start without one
    try:
        sansio.validate_event(body, signature=signature, secret=secret)
    except ValidationFailure:
        return _reject(401, "signature does not match the webhook secret", request)

    if request.content_type != "application/json":
        return _reject(
            400, f"content type must be application/json, not {request.content_type}", request
        )
    event = request.headers.get("X-GitHub-Event")
    delivery_id = request.headers.get("X-GitHub-Delivery")
    if not event or not delivery_id:
        return _reject(400, "missing X-GitHub-Event or X-GitHub-Delivery header", request)
    # Validate with simdjson and read only the routing fields: the dispatcher parses the
    # payload into Python objects later, and only if a handler wants it.
    if body.startswith(_BOM):
        return _reject(400, "body starts with a byte order mark; GitHub never sends one", request)
    parser = simdjson.Parser() if len(body) > _REUSE_PARSER_UP_TO else request.app[JSON_PARSER]
    try:
        payload = parser.parse(body)
    except (ValueError, RuntimeError) as exc:  # simdjson: syntax, encoding; depth, big numbers
        return _reject(400, f"body is not valid JSON: {_why(exc)}", request)
    if not isinstance(payload, simdjson.Object):
        return _reject(400, "body must be a JSON object", request)
    action, repository, installation_id, order_key = describe(payload)
    del payload  # a view into the parser's buffer, which the next request reuses

    dispatcher = request.app[DISPATCHER]
    handled = dispatcher.wants(event, action, body)
    incoming = Incoming(
        delivery_id, event, action, repository, installation_id, order_key, body, handled
    )
    try:
        seq = await request.app[JOURNAL].record(incoming)
    except (sqlite3.Error, OSError, JournalClosed) as exc:
        # GitHub keeps the failed delivery under "Recent Deliveries" for redelivery.
        log.error("journal write failed", extra={"delivery_id": delivery_id, "error": repr(exc)})
        return web.json_response({"error": "journal unavailable, redeliver later"}, status=503)
    if seq is None:
        return web.Response(status=200, text="duplicate delivery, already journaled")
    delivery = Delivery(
        seq, delivery_id, event, action, repository, installation_id, order_key, body=body
    )
    if handled:
        dispatcher.submit(delivery)
    else:
        dispatcher.skipped(delivery)
    return web.Response(status=202)


def _why(exc: Exception) -> str:
    """simdjson's error, in a few words ("DEPTH_ERROR: The JSON document was too deep")."""
    return str(exc).split(". ")[0][:160] or type(exc).__name__
