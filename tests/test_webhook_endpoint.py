"""The webhook endpoint as GitHub (and an attacker) would meet it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sqlite3

import pytest
from gidgethub import routing

from bot.intake.delivery import DONE
from bot.web.webhooks import MAX_BODY_BYTES
from tests.support import SECRET, delivery_headers, repo_payload, sign, wait_for


def journal_rows(settings) -> list[tuple[str, str, str]]:
    with sqlite3.connect(settings.journal_path) as conn:
        return conn.execute("SELECT delivery_id, event, state FROM deliveries").fetchall()


async def test_valid_delivery_is_journaled_and_answered_202(make_client, settings):
    client = await make_client()
    body = json.dumps(repo_payload(1)).encode()
    resp = await client.post(
        "/webhooks", data=body, headers=delivery_headers("issue_comment", body, delivery_id="abc-1")
    )
    assert resp.status == 202
    assert [r[:2] for r in journal_rows(settings)] == [("abc-1", "issue_comment")]


@pytest.mark.parametrize(
    ("case", "mutate"),
    [
        ("missing", lambda h, b: h.pop("X-Hub-Signature-256")),
        ("forged", lambda h, b: h.update({"X-Hub-Signature-256": sign(b, "wrong-secret")})),
        ("garbage", lambda h, b: h.update({"X-Hub-Signature-256": "sha256=zz"})),
        (
            "sha1-only",
            lambda h, b: (
                h.pop("X-Hub-Signature-256"),
                h.update(
                    {
                        "X-Hub-Signature": "sha1="
                        + hmac.new(SECRET.encode(), b, hashlib.sha1).hexdigest()
                    }
                ),
            ),
        ),
        (
            "sha1-in-sha256-header",
            lambda h, b: h.update(
                {
                    "X-Hub-Signature-256": "sha1="
                    + hmac.new(SECRET.encode(), b, hashlib.sha1).hexdigest()
                }
            ),
        ),
        (
            "body-changed-after-signing",
            lambda h, b: h.update({"X-Hub-Signature-256": sign(b + b" ")}),
        ),
    ],
)
async def test_unsigned_or_forged_deliveries_get_401_and_leave_no_trace(
    make_client, settings, case, mutate
):
    client = await make_client()
    body = json.dumps(repo_payload(1)).encode()
    headers = delivery_headers("issues", body)
    mutate(headers, body)
    resp = await client.post("/webhooks", data=body, headers=headers)
    assert resp.status == 401, case
    assert "signature" in (await resp.json())["error"]
    assert journal_rows(settings) == []


async def test_signature_is_checked_before_the_body_is_parsed(make_client, settings):
    client = await make_client()
    body = b"{not json"
    headers = delivery_headers("issues", body)
    headers["X-Hub-Signature-256"] = sign(body, "attacker")
    resp = await client.post("/webhooks", data=body, headers=headers)
    assert resp.status == 401  # not 400: an unauthenticated caller learns nothing


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"{not json", "application/json", "not valid JSON"),
        (b"[1, 2, 3]", "application/json", "JSON object"),
        (b"", "application/json", "not valid JSON"),
        (b'{"a": "\xff"}', "application/json", "not valid JSON"),
        (b'{"a": 1} trailing', "application/json", "not valid JSON"),
        (b'"just a string"', "application/json", "JSON object"),
        (b'{"a": 1}', "application/x-www-form-urlencoded", "content type"),
        (b'{"a": 1}', "text/plain", "content type"),
    ],
)
async def test_malformed_bodies_get_400_with_a_reason(
    make_client, settings, body, content_type, reason
):
    client = await make_client()
    headers = delivery_headers("issues", body)
    headers["Content-Type"] = content_type
    resp = await client.post("/webhooks", data=body, headers=headers)
    assert resp.status == 400
    assert reason in (await resp.json())["error"]
    assert journal_rows(settings) == []


@pytest.mark.parametrize("header", ["X-GitHub-Event", "X-GitHub-Delivery"])
async def test_missing_github_headers_get_400(make_client, header):
    client = await make_client()
    body = b"{}"
    headers = delivery_headers("issues", body)
    del headers[header]
    resp = await client.post("/webhooks", data=body, headers=headers)
    assert resp.status == 400


async def test_body_over_25_mb_gets_413(make_client, settings):
    client = await make_client()
    body = b'{"a": "' + b"x" * (MAX_BODY_BYTES) + b'"}'
    resp = await client.post("/webhooks", data=body, headers=delivery_headers("issues", body))
    assert resp.status == 413
    assert journal_rows(settings) == []


async def test_body_just_under_the_limit_is_accepted(make_client, settings):
    client = await make_client()
    body = b'{"a": "' + b"x" * (MAX_BODY_BYTES - 20) + b'"}'
    resp = await client.post("/webhooks", data=body, headers=delivery_headers("issues", body))
    assert resp.status == 202


async def test_repeated_delivery_id_gets_200_and_runs_once(make_client, settings):
    calls: list[str] = []
    router = routing.Router()

    @router.register("issue_comment")
    async def count(event, *, ctx):
        calls.append(event.delivery_id)

    client = await make_client([router])
    body = json.dumps(repo_payload(7)).encode()
    headers = delivery_headers("issue_comment", body, delivery_id="same-id")
    statuses = [
        (await client.post("/webhooks", data=body, headers=headers)).status for _ in range(3)
    ]
    assert statuses == [202, 200, 200]
    await wait_for(lambda: journal_rows(settings)[0][2] == DONE)
    assert calls == ["same-id"]
    assert len(journal_rows(settings)) == 1


async def test_concurrent_repeats_of_one_delivery_are_journaled_once(make_client, settings):
    client = await make_client()
    body = json.dumps(repo_payload(7)).encode()
    headers = delivery_headers("issue_comment", body, delivery_id="racing")
    responses = await asyncio.gather(
        *(client.post("/webhooks", data=body, headers=headers) for _ in range(10))
    )
    assert sorted(r.status for r in responses) == [200] * 9 + [202]
    assert len(journal_rows(settings)) == 1


async def test_webhook_path_is_configurable(make_client):
    client = await make_client(webhook_path="/github/events")
    body = b"{}"
    assert (
        await client.post("/github/events", data=body, headers=delivery_headers("ping", body))
    ).status == 202
    assert (
        await client.post("/webhooks", data=body, headers=delivery_headers("ping", body))
    ).status in (404, 405)


async def test_a_delivery_nothing_handles_is_journaled_as_done_at_once(make_client, settings):
    calls: list[str] = []
    router = routing.Router()

    @router.register("issues", action="opened")
    async def opened(event, *, ctx):
        calls.append(event.delivery_id)

    client = await make_client([router])
    for n, (event, action) in enumerate(
        [("push", None), ("issues", "closed"), ("issues", "opened")]
    ):
        payload = {**repo_payload(1, n), "action": action}
        body = json.dumps(payload).encode()
        resp = await client.post(
            "/webhooks", data=body, headers=delivery_headers(event, body, delivery_id=f"h-{n}")
        )
        assert resp.status == 202
    states = {d: s for d, _, s in journal_rows(settings)}
    # No handler for the first two: done as soon as they are journaled, with no dispatch.
    assert states["h-0"] == DONE and states["h-1"] == DONE
    await wait_for(lambda: calls == ["h-2"])
    await wait_for(lambda: {d: s for d, _, s in journal_rows(settings)}["h-2"] == DONE)
