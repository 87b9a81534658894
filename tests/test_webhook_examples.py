"""Every real payload GitHub documents, signed and posted through the HTTP app."""

from __future__ import annotations

import sqlite3
from collections import Counter

import orjson
from gidgethub import routing

from bot.intake.delivery import DONE
from tests.support import delivery_headers, wait_for, webhook_examples


async def test_all_webhook_examples_are_accepted_journaled_once_and_dispatched(
    make_client, settings
):
    examples = webhook_examples()
    assert len(examples) == 329  # @octokit/webhooks-examples 7.6.1, api.github.com
    dispatched: Counter[str] = Counter()
    router = routing.Router()

    async def count(event, *, ctx):
        assert event.data  # the handler sees the payload, parsed
        dispatched[event.delivery_id] += 1

    for event in {name for name, _ in examples}:
        router.add(count, event)
    client = await make_client([router])

    ids = []
    for n, (event, payload) in enumerate(examples):
        body = orjson.dumps(payload)  # compact, as GitHub sends it
        delivery_id = f"example-{n:03d}-{event}"
        resp = await client.post(
            "/webhooks", data=body, headers=delivery_headers(event, body, delivery_id=delivery_id)
        )
        assert resp.status == 202, (event, payload.get("action"), await resp.text())
        ids.append(delivery_id)

    with sqlite3.connect(settings.journal_path) as conn:
        journaled = Counter(r[0] for r in conn.execute("SELECT delivery_id FROM deliveries"))
    assert journaled == Counter(ids)  # each exactly once

    await wait_for(lambda: len(dispatched) == len(ids))
    assert set(dispatched.values()) == {1}
    with sqlite3.connect(settings.journal_path) as conn:
        await wait_for(
            lambda: (
                conn.execute(
                    "SELECT count(*) FROM deliveries WHERE state != ?", (DONE,)
                ).fetchone()[0]
                == 0
            )
        )


async def test_examples_posted_again_are_not_journaled_twice(make_client, settings):
    examples = webhook_examples()[:40]
    client = await make_client()
    for round_ in range(2):
        for n, (event, payload) in enumerate(examples):
            body = orjson.dumps(payload)
            resp = await client.post(
                "/webhooks",
                data=body,
                headers=delivery_headers(event, body, delivery_id=f"again-{n}"),
            )
            assert resp.status == (202 if round_ == 0 else 200)
    with sqlite3.connect(settings.journal_path) as conn:
        assert conn.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 40
