"""The journal's durability settings, group commit, and what survives a reopen."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from bot.intake import store
from bot.intake.delivery import DEAD, DONE, PENDING, Incoming
from bot.intake.journal import Journal, JournalClosed


def incoming(n: int, repo: int = 1) -> Incoming:
    return Incoming(
        f"d-{n}",
        "issues",
        "opened",
        f"o/r{repo}",
        9,
        f"repo:{repo}",
        b'{"action":"opened","n":%d}' % n,
    )


async def test_journal_commits_with_wal_and_synchronous_full(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    await journal.open()
    try:
        assert await journal.pragmas() == {"journal_mode": "wal", "synchronous": "FULL"}
    finally:
        await journal.close()


async def test_concurrent_records_share_one_commit(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    await journal.open()
    await journal.touch()
    before = journal.commits
    # Fifty requests arrive before the writer runs again, as they do while it is fsyncing.
    seqs = await asyncio.gather(*(journal.record(incoming(n)) for n in range(50)))
    assert len(set(seqs)) == 50
    assert journal.commits - before == 1  # fifty deliveries, one fsync
    await journal.close()


async def test_duplicate_delivery_ids_are_recorded_once(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    await journal.open()
    first, second = await asyncio.gather(journal.record(incoming(1)), journal.record(incoming(1)))
    assert first is not None and second is None
    assert len(await journal.pending()) == 1
    await journal.close()


async def test_everything_acknowledged_is_there_after_reopening(tmp_path):
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    await journal.open()
    seqs = await asyncio.gather(*(journal.record(incoming(n, repo=n % 3)) for n in range(20)))
    await journal.mark_done(seqs[0], 1)
    await journal.mark_dead(seqs[1], 5, "boom")
    await journal.close()

    reopened = Journal(path)
    await reopened.open()
    pending = await reopened.pending()
    assert [d.delivery_id for d in pending] == [f"d-{n}" for n in range(2, 20)]
    assert await reopened.load_body(pending[0].seq) == b'{"action":"opened","n":2}'
    stats = await reopened.stats()
    assert stats["queue_depth"] == 18 and stats["dead"] == 1
    await reopened.close()


async def test_a_failing_operation_does_not_sink_its_batch(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    await journal.open()

    def broken(conn):
        conn.execute("SELECT * FROM no_such_table")

    results = await asyncio.gather(
        journal.record(incoming(1)),
        journal.run(broken),
        journal.record(incoming(2)),
        return_exceptions=True,
    )
    assert isinstance(results[1], sqlite3.OperationalError)
    assert all(isinstance(r, int) for r in (results[0], results[2]))
    assert len(await journal.pending()) == 2
    await journal.close()


def test_retention_prunes_old_done_and_keeps_dead_and_pending(tmp_path):
    conn = store.connect(tmp_path / "j.sqlite3")
    seqs = [store.insert(conn, incoming(n), now=1000.0) for n in range(4)]
    store.mark_done(conn, seqs[0], 1, now=1000.0)  # old, done: pruned
    store.mark_done(conn, seqs[1], 1, now=5000.0)  # recent, done: kept
    store.mark_dead(conn, seqs[2], 5, "x", now=1000.0)  # dead: kept until purged
    assert store.prune_done(conn, older_than=2000.0) == 1
    states = dict(conn.execute("SELECT delivery_id, state FROM deliveries").fetchall())
    assert states == {"d-1": DONE, "d-2": DEAD, "d-3": PENDING}
    assert store.body(conn, seqs[0]) is None  # its payload went with it
    assert store.purge_dead(conn) == 1
    assert store.body(conn, seqs[2]) is None
    assert store.find(conn, "d-2") is None


def test_replay_requeues_finished_deliveries_only(tmp_path):
    conn = store.connect(tmp_path / "j.sqlite3")
    seq = store.insert(conn, incoming(1), now=1.0)
    assert store.replay(conn, seq) is False  # still pending: nothing to replay
    store.mark_dead(conn, seq, 5, "boom", now=2.0)
    assert store.replay(conn, seq) is True
    record = store.find(conn, "d-1")
    assert (record.state, record.attempts, record.last_error) == (PENDING, 0, "boom")


async def test_a_failed_body_write_leaves_no_row_behind(tmp_path):
    """A row without its body would answer a redelivery "already journaled" and lose it."""
    journal = Journal(tmp_path / "j.sqlite3")
    await journal.open()
    await journal.run(
        lambda conn: conn.execute(
            "CREATE TRIGGER fail_body BEFORE INSERT ON payloads WHEN NEW.body = X'21'"
            " BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    )
    poisoned = Incoming("bad", "issues", None, None, None, "global", b"!")
    results = await asyncio.gather(
        journal.record(incoming(1)), journal.record(poisoned), return_exceptions=True
    )
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results)
    assert await journal.pending() == []
    assert isinstance(await journal.record(incoming(1)), int)  # GitHub's redelivery is new
    await journal.close()


async def test_pruning_goes_a_chunk_per_commit_until_everything_old_is_gone(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    await journal.open()
    seqs = await asyncio.gather(*(journal.record(incoming(n)) for n in range(7)))
    for seq in seqs[:5]:
        await journal.mark_done(seq, 1)
    before = journal.commits
    assert await journal.prune_done(older_than=time.time() + 1, chunk=2) == 5
    assert journal.commits - before == 3  # 2 + 2 + 1
    assert [d.delivery_id for d in await journal.pending()] == ["d-5", "d-6"]
    await journal.close()


async def test_if_the_writer_dies_no_request_waits_forever(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    await journal.open()
    journal._committer.shutdown()  # the commit thread is gone: the next commit cannot run
    with pytest.raises(JournalClosed):
        await asyncio.wait_for(journal.record(incoming(1)), timeout=5)
    assert not journal.alive
    with pytest.raises(JournalClosed):
        journal.record(incoming(2))
