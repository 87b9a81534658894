"""What an operator sees: JSON log lines per delivery, probes, and no secret anywhere."""

from __future__ import annotations

import io
import json
import logging

import orjson
from gidgethub import routing

from bot.logs import REDACTED, configure_logging
from tests.support import SECRET, delivery_headers, repo_payload, wait_for


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


async def test_one_json_record_per_delivery_with_its_outcome(make_client):
    stream = io.StringIO()
    configure_logging("INFO", secrets=[SECRET], stream=stream)
    router = routing.Router()

    @router.register("issues")
    async def fail(event, *, ctx):
        raise RuntimeError(f"token {SECRET} rejected")  # a careless error message

    client = await make_client([router], max_attempts=1)
    for n, event in enumerate(["issue_comment", "issues"]):
        body = orjson.dumps(repo_payload(3, n))
        await client.post(
            "/webhooks", data=body, headers=delivery_headers(event, body, delivery_id=f"log-{n}")
        )
    await wait_for(
        lambda: sum('"delivery ' in line for line in stream.getvalue().splitlines()) == 2
    )
    records = {r["delivery_id"]: r for r in lines(stream) if r["message"].startswith("delivery")}
    ok, dead = records["log-0"], records["log-1"]
    assert ok["outcome"] == "done" and ok["event"] == "issue_comment"
    assert ok["action"] == "created" and ok["repository"] == "octo/repo3"
    assert isinstance(ok["duration_ms"], float)
    assert dead["outcome"] == "dead" and dead["level"] == "WARNING"
    assert REDACTED in dead["error"]
    assert SECRET not in stream.getvalue()


def test_secrets_are_redacted_from_messages_arguments_extras_and_tracebacks():
    stream = io.StringIO()
    secret = 'p@ss"word\\with-json-escapes'
    configure_logging("DEBUG", secrets=[secret, SECRET], stream=stream)
    log = logging.getLogger("test.redaction")
    log.info("secret is %s", SECRET, extra={"nested": {"key": secret}, "listed": [SECRET]})
    try:
        raise ValueError(secret)
    except ValueError:
        log.exception("failed with %s", "context")
    text = stream.getvalue()
    assert SECRET not in text and "p@ss" not in text
    assert text.count(REDACTED) == 4  # message, nested extra, listed extra, traceback
    assert all(json.loads(line) for line in text.splitlines())


async def test_healthz_and_readyz_report_the_intake(make_client):
    client = await make_client()
    assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
    body = orjson.dumps(repo_payload(1))
    await client.post("/webhooks", data=body, headers=delivery_headers("issues", body))
    resp = await client.get("/readyz")
    ready = await resp.json()
    assert resp.status == 200
    assert ready["status"] == "ready"
    assert ready["journal_writable"] is True and ready["dispatcher_alive"] is True
    for key in ("queue_depth", "oldest_pending_age_s", "dead"):
        assert key in ready


async def test_readyz_is_503_when_the_journal_is_gone(make_client):
    client = await make_client()
    from bot.web.keys import JOURNAL

    await client.app[JOURNAL].close()
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["journal_writable"] is False and "not open" in body["journal_error"]
    # and deliveries are refused with a reason rather than acknowledged and lost
    payload = orjson.dumps(repo_payload(1))
    resp = await client.post("/webhooks", data=payload, headers=delivery_headers("issues", payload))
    assert resp.status == 503


async def test_log_lines_are_batched_but_never_held_back_for_long():
    stream = io.StringIO()
    handler = configure_logging("INFO", stream=stream)
    log = logging.getLogger("test.batching")
    log.info("first")
    log.info("second")
    # Quiet afterwards: the background flush still writes them within its interval.
    await wait_for(lambda: "second" in stream.getvalue(), timeout=2)
    log.info("third")
    log.warning("trouble")  # warnings go out at once, with everything before them
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == [
        "first",
        "second",
        "third",
        "trouble",
    ]
    handler.close()
