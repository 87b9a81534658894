"""Dispatch: per-repository order and isolation, retries, dead letters, restarts."""

from __future__ import annotations

import asyncio
import random
import sqlite3

import orjson
import pytest
from gidgethub import routing

from bot.intake import store
from bot.intake.delivery import DEAD, DONE, Delivery, Incoming, describe
from bot.intake.dispatcher import Dispatcher, RetryPolicy
from bot.intake.journal import Journal
from bot.intake.routing import EventRouter
from tests.support import repo_payload, wait_for


@pytest.fixture
async def journal(tmp_path):
    j = Journal(tmp_path / "journal.sqlite3")
    await j.open()
    yield j
    await j.close()


def make_dispatcher(journal, router, **kw) -> Dispatcher:
    kw.setdefault("retry", RetryPolicy(max_attempts=3, base_seconds=0.01, max_seconds=0.05))
    kw.setdefault("handler_timeout", 5.0)
    return Dispatcher(journal, EventRouter(router), **kw)


async def deliver(journal, dispatcher, payload, n, event="issue_comment") -> int:
    """What the webhook endpoint does: journal, then hand over."""
    action, repo, inst, key = describe(payload)
    body = orjson.dumps(payload)
    seq = await journal.record(Incoming(f"d-{n}", event, action, repo, inst, key, body))
    dispatcher.submit(Delivery(seq, f"d-{n}", event, action, repo, inst, key, body=body))
    return seq


def states(journal) -> dict[str, tuple[str, int, str | None]]:
    with sqlite3.connect(journal.path) as conn:
        rows = conn.execute("SELECT delivery_id, state, attempts, last_error FROM deliveries")
        return {d: (s, a, e) for d, s, a, e in rows}


async def test_order_is_kept_per_repository(journal):
    seen: list[tuple[int, int]] = []
    router = routing.Router()

    @router.register("issue_comment")
    async def record(event, *, ctx):
        await asyncio.sleep(random.random() / 200)
        seen.append((event.data["repository"]["id"], event.data["comment"]["id"]))

    dispatcher = make_dispatcher(journal, router)
    await dispatcher.start()
    for n in range(60):
        await deliver(journal, dispatcher, repo_payload(n % 3, n), n)
    await wait_for(lambda: len(seen) == 60)
    for repo in range(3):
        assert [n for r, n in seen if r == repo] == list(range(repo, 60, 3))
    await dispatcher.stop()


async def test_a_stuck_repository_never_delays_another(journal):
    release = asyncio.Event()
    done: list[tuple[int, int]] = []
    router = routing.Router()

    @router.register("issue_comment")
    async def handle(event, *, ctx):
        repo = event.data["repository"]["id"]
        if repo == 1:
            await release.wait()  # stuck until the test lets go
        done.append((repo, event.data["comment"]["id"]))

    dispatcher = make_dispatcher(journal, router)
    await dispatcher.start()
    await deliver(journal, dispatcher, repo_payload(1, 0), 0)
    await deliver(journal, dispatcher, repo_payload(1, 1), 1)
    for n in range(2, 22):
        await deliver(journal, dispatcher, repo_payload(2, n), n)
    await wait_for(lambda: len(done) == 20)
    assert all(repo == 2 for repo, _ in done)  # repo 1 is still stuck on its first delivery
    release.set()
    await wait_for(lambda: len(done) == 22)
    assert done[-2:] == [(1, 0), (1, 1)]
    await dispatcher.stop()


async def test_a_failing_handler_is_retried_then_done(journal):
    calls: list[int] = []
    router = routing.Router()

    @router.register("issue_comment")
    async def flaky(event, *, ctx):
        calls.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError("GitHub answered 502")

    dispatcher = make_dispatcher(journal, router)
    await dispatcher.start()
    await deliver(journal, dispatcher, repo_payload(1, 0), 0)
    await wait_for(lambda: states(journal)["d-0"][0] == DONE)
    assert calls == [1, 2, 3]
    assert states(journal)["d-0"][:2] == (DONE, 3)
    await dispatcher.stop()


async def test_a_delivery_that_keeps_failing_is_dead_lettered_and_the_lane_moves_on(journal):
    handled: list[int] = []
    router = routing.Router()

    @router.register("issue_comment")
    async def handle(event, *, ctx):
        if event.data["comment"]["id"] == 0:
            raise ValueError("cannot parse the command")
        handled.append(event.data["comment"]["id"])

    dispatcher = make_dispatcher(journal, router)
    await dispatcher.start()
    await deliver(journal, dispatcher, repo_payload(1, 0), 0)
    await deliver(journal, dispatcher, repo_payload(1, 1), 1)
    await wait_for(lambda: handled == [1])
    await wait_for(lambda: states(journal)["d-1"][0] == DONE)
    assert states(journal)["d-0"] == (DEAD, 3, "ValueError: cannot parse the command")
    stats = await journal.stats()
    assert stats["dead"] == 1 and stats["queue_depth"] == 0
    await dispatcher.stop()


async def test_a_handler_over_its_time_limit_counts_as_a_failure(journal):
    router = routing.Router()

    @router.register("issue_comment")
    async def slow(event, *, ctx):
        await asyncio.sleep(10)

    dispatcher = make_dispatcher(
        journal, router, handler_timeout=0.05, retry=RetryPolicy(max_attempts=2, base_seconds=0.01)
    )
    await dispatcher.start()
    await deliver(journal, dispatcher, repo_payload(1, 0), 0)
    await wait_for(lambda: states(journal)["d-0"][0] == DEAD)
    assert "ran over" in states(journal)["d-0"][2]
    await dispatcher.stop()


async def test_a_restart_dispatches_every_unfinished_delivery(journal, tmp_path):
    # A previous process journaled these and died before dispatching them.
    conn = store.connect(journal.path)
    for n in range(5):
        payload = repo_payload(n % 2, n)
        action, repo, inst, key = describe(payload)
        store.insert(
            conn,
            Incoming(f"d-{n}", "issue_comment", action, repo, inst, key, orjson.dumps(payload)),
            now=1.0,
        )
    store.mark_retry(conn, 1, 2, "earlier failure", not_before=0.0)
    conn.close()

    seen: list[tuple[str, int]] = []
    router = routing.Router()

    @router.register("issue_comment")
    async def handle(event, *, ctx):
        seen.append((event.delivery_id, ctx.attempt))

    dispatcher = make_dispatcher(journal, router)
    await dispatcher.start()
    await wait_for(lambda: len(seen) == 5)
    assert sorted(seen) == [("d-0", 3), ("d-1", 1), ("d-2", 1), ("d-3", 1), ("d-4", 1)]
    await wait_for(lambda: all(s == DONE for s, _, _ in states(journal).values()))
    await dispatcher.stop()


async def test_a_replayed_delivery_is_picked_up_by_the_sweep(journal):
    seen: list[str] = []
    router = routing.Router()

    @router.register("issue_comment")
    async def handle(event, *, ctx):
        seen.append(event.delivery_id)

    dispatcher = make_dispatcher(journal, router, sweep_interval=0.05)
    await dispatcher.start()
    seq = await deliver(journal, dispatcher, repo_payload(1, 0), 0)
    await wait_for(lambda: states(journal)["d-0"][0] == DONE)
    conn = store.connect(journal.path)  # what `orchestrator deliveries replay` does
    assert store.replay(conn, seq)
    conn.close()
    await wait_for(lambda: seen == ["d-0", "d-0"])
    await asyncio.sleep(0.2)  # several more sweeps: still exactly two runs
    assert seen == ["d-0", "d-0"]
    await dispatcher.stop()


async def test_deliveries_with_no_handler_are_done(journal):
    dispatcher = make_dispatcher(journal, routing.Router())
    await dispatcher.start()
    await deliver(journal, dispatcher, {"zen": "Keep it logically awesome."}, 0, event="ping")
    await wait_for(lambda: states(journal)["d-0"][0] == DONE)
    await dispatcher.stop()


def test_ordering_lanes():
    assert describe(repo_payload(5))[3] == "repo:5"
    assert describe({"installation": {"id": 7}, "action": "added"})[3] == "installation:7"
    assert describe({"zen": "hi"})[3] == "global"
    assert describe({"repository": "not-an-object"})[3] == "global"
