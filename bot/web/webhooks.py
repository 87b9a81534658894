"""The webhook endpoint: verify, parse, journal durably, then answer. Nothing slow runs here."""

from __future__ import annotations

import logging
import sqlite3

import simdjson
from aiohttp import web
from gidgethub import ValidationFailure, sansio

from bot.intake.delivery import Delivery, Incoming, describe
from bot.intake.journal import JournalClosed
from bot.web.keys import DISPATCHER, JOURNAL, JSON_PARSER, SETTINGS

log = logging.getLogger(__name__)

#: GitHub caps webhook payloads at 25 MB and does not deliver larger ones.
MAX_BODY_BYTES = 25 * 1024 * 1024
_SHA256 = "sha256="
#: Bodies up to this size reuse the app's parser; larger ones get a throwaway parser, so
#: one huge delivery does not leave a huge buffer behind.
_REUSE_PARSER_UP_TO = 1024 * 1024


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
    return web.json_response({"error": reason}, status=status)


async def receive_webhook(request: web.Request) -> web.Response:
    """Accept one delivery: 202 once it is committed to the journal, 200 for a repeat."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _reject(413, "payload larger than GitHub's 25 MB limit", request)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _reject(413, "payload larger than GitHub's 25 MB limit", request)

    signature = request.headers.get("X-Hub-Signature-256")
    if not signature or not signature.startswith(_SHA256):
        return _reject(401, "missing X-Hub-Signature-256 (sha256) signature", request)
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
    parser = simdjson.Parser() if len(body) > _REUSE_PARSER_UP_TO else request.app[JSON_PARSER]
    try:
        payload = parser.parse(body)
    except ValueError:  # includes UnicodeDecodeError
        return _reject(400, "body is not valid JSON", request)
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
