"""The webhook edge under hostile input: malformed signatures, bodies the dispatcher could not
parse, chunked giants, stalled and trickled bodies; none gets a 500, a traceback or memory."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3

import pytest

from bot.intake import store
from bot.intake.delivery import DEAD, Incoming, parse_payload
from bot.web import webhooks
from bot.web.keys import UNVERIFIED
from bot.web.webhooks import MAX_BODY_BYTES
from tests.support import delivery_headers, repo_payload, sign, wait_for


def journal_rows(settings) -> list[tuple[str, str, int]]:
    with sqlite3.connect(settings.journal_path) as conn:
        return conn.execute("SELECT delivery_id, state, attempts FROM deliveries").fetchall()


def tracebacks(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def raw(client, head: bytes, body: bytes = b"", *, wait: float = 5.0) -> bytes:
    """One request over a plain socket, exactly as written; the server's answer (or b"")."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head + body)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), wait)
    finally:
        writer.close()


def request_head(signature: bytes, length: int, event: bytes = b"issues") -> bytes:
    return (
        b"POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-GitHub-Event: " + event + b"\r\nX-GitHub-Delivery: d-1\r\n"
        b"X-Hub-Signature-256: " + signature + b"\r\n"
        b"Content-Length: " + str(length).encode() + b"\r\n\r\n"
    )


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=é".encode(),  # not ASCII: gidgethub's comparison raised TypeError (a 500)
        b"sha256=\xff\xfe",
        b"sha256=" + b"a" * 63,
        b"sha256=" + b"g" * 64,
        b"sha256=" + b"a" * 64 + b"ff",
        b"sha256 = " + b"a" * 64,
        b"SHA256=" + b"a" * 64,
    ],
)
async def test_a_malformed_signature_header_is_401_without_a_traceback(
    make_client, settings, caplog, signature
):
    client = await make_client()
    body = b'{"zen": "x"}'
    answer = await raw(client, request_head(signature, len(body)), body)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"signature" in answer
    assert tracebacks(caplog) == [] and journal_rows(settings) == []


DEEP = b'{"a": ' + b"[" * 1100 + b"]" * 1100 + b"}"
BIG_NUMBER = b'{"a": 123456789012345678901234567890}'
BOM = b'\xef\xbb\xbf{"a": 1}'


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (DEEP, "too deep"),
        (BIG_NUMBER, "64 bits"),
        (b'{"a": -9223372036854775809}', "64 bits"),
        (BOM, "byte order mark"),
        (b'{"a": "\\ud800"}', "not valid JSON"),  # a lone surrogate
    ],
    ids=["deep", "big-int", "big-negative", "bom", "lone-surrogate"],
)
async def test_signed_bodies_the_dispatcher_could_not_read_are_400(
    make_client, settings, caplog, body, reason
):
    client = await make_client()
    resp = await client.post("/webhooks", data=body, headers=delivery_headers("issues", body))
    assert resp.status == 400
    assert reason in (await resp.json())["error"]
    assert tracebacks(caplog) == [] and journal_rows(settings) == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        b'{"a": 18446744073709551615, "b": -9223372036854775808}',
        b'{"a": 1, "a": 2}',
        b'{"emoji": "\\ud83d\\ude00", "nul": "\\u0000"}',
        json.dumps(repo_payload(1)).encode(),
    ],
    ids=["deep-but-allowed", "64-bit-edges", "duplicate-keys", "escapes", "plain"],
)
async def test_every_body_the_edge_accepts_the_dispatcher_parses(make_client, settings, body):
    client = await make_client()
    resp = await client.post("/webhooks", data=body, headers=delivery_headers("issues", body))
    assert resp.status == 202
    assert isinstance(parse_payload(body), dict)  # the dispatcher's own parser


async def test_an_unparseable_journaled_body_is_dead_at_once_and_frees_its_lane(
    make_client, settings
):
    # As a journal written by an older release (or damaged on disk) might hold one.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    conn = store.connect(settings.journal_path)
    body = b'{"action": "created", ' + b"[" * 1100
    incoming = Incoming("bad-1", "issue_comment", "created", "o/r", 1, "repo:1", body)
    store.insert(conn, incoming, 0.0)
    conn.close()
    from gidgethub import routing

    router = routing.Router()
    seen: list[str] = []

    @router.register("issue_comment")
    async def count(event, *, ctx):
        seen.append(event.delivery_id)

    client = await make_client([router])
    await wait_for(lambda: journal_rows(settings)[0][1] == DEAD)
    assert journal_rows(settings) == [("bad-1", DEAD, 1)]  # one attempt, not five
    good = json.dumps(repo_payload(1)).encode()
    headers = delivery_headers("issue_comment", good, delivery_id="good-1")
    assert (await client.post("/webhooks", data=good, headers=headers)).status == 202
    await wait_for(lambda: seen == ["good-1"])


async def test_a_chunked_body_over_25_mb_is_413_like_a_declared_one(make_client, settings):
    client = await make_client()
    piece = b"x" * (1024 * 1024)

    async def chunks():
        yield b'{"a": "'
        for _ in range(26):
            yield piece
        yield b'"}'

    headers = delivery_headers("issues", b"")
    headers["X-Hub-Signature-256"] = sign(b"unknown until sent")
    resp = await client.post("/webhooks", data=chunks(), headers=headers)
    assert resp.status == 413
    assert journal_rows(settings) == []
    assert client.server.app[UNVERIFIED].held == 0


async def test_a_stalled_body_is_answered_408_and_holds_nothing(make_client, settings, monkeypatch):
    monkeypatch.setattr(webhooks, "BODY_DEADLINE_S", 0.3)
    client = await make_client()
    head = request_head(b"sha256=" + b"a" * 64, MAX_BODY_BYTES)
    answer = await raw(client, head, b'{"a": "' + b"x" * 100_000)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert client.server.app[UNVERIFIED].held == 0


async def test_trickling_clients_cannot_hold_more_than_the_cap(make_client, settings, caplog):
    client = await make_client()
    client.server.app[UNVERIFIED].limit = 1_000_000
    opened = []
    for _ in range(3):  # each sends 400 kB of a declared 25 MB, then stalls, secret unknown
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        writer.write(request_head(b"sha256=" + b"b" * 64, MAX_BODY_BYTES) + b"x" * 400_000)
        await writer.drain()
        opened.append((reader, writer))
    answers = await asyncio.gather(
        *(asyncio.wait_for(r.read(4096), 5) for r, _ in opened), return_exceptions=True
    )
    refused = [a for a in answers if isinstance(a, bytes) and a.startswith(b"HTTP/1.1 503")]
    assert refused, answers  # the third would pass the cap: asked to redeliver
    assert client.server.app[UNVERIFIED].held <= 1_000_000
    for _, writer in opened:
        writer.close()
    await wait_for(lambda: client.server.app[UNVERIFIED].held == 0)
    assert tracebacks(caplog) == []


async def test_clients_that_hang_up_or_send_huge_headers_are_one_info_line(make_client, caplog):
    caplog.set_level(logging.INFO)
    client = await make_client()
    # Hangs up halfway through its body.
    _, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(request_head(b"sha256=" + b"c" * 64, 10_000) + b"x" * 100)
    await writer.drain()
    writer.transport.abort()
    # Sends a header line far over the limit.
    answer = await raw(client, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"y" * 20_000 + b"\r\n\r\n")
    assert answer.startswith((b"HTTP/1.0 4", b"HTTP/1.1 4")), answer[:100]  # as aiohttp says
    await asyncio.sleep(0.2)
    assert tracebacks(caplog) == []
    faults = [r.getMessage() for r in caplog.records if r.getMessage().startswith("client fault")]
    assert any("LineTooLong" in f for f in faults) and all("\n" not in f for f in faults)
