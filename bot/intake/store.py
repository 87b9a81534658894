"""The delivery journal's schema and SQL: plain functions over a `sqlite3.Connection`.

The async journal runs these on its writer thread; the operator CLI runs them directly.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from bot.intake.delivery import DEAD, DONE, PENDING, Delivery, DeliveryRecord, Incoming

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    seq             INTEGER PRIMARY KEY,
    delivery_id     TEXT NOT NULL UNIQUE,
    event           TEXT NOT NULL,
    action          TEXT,
    repository      TEXT,
    installation_id INTEGER,
    order_key       TEXT NOT NULL,
    received_at     REAL NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    not_before      REAL NOT NULL DEFAULT 0,
    last_error      TEXT,
    finished_at     REAL
);
CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries (state, seq);
-- Bodies live apart: SQLite rewrites a whole row on UPDATE, and state changes are frequent.
CREATE TABLE IF NOT EXISTS payloads (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_RECORD_COLUMNS = (
    "seq, delivery_id, event, action, repository, installation_id, state, attempts,"
    " received_at, finished_at, last_error"
)
_DELIVERY_COLUMNS = (
    "seq, delivery_id, event, action, repository, installation_id, order_key, attempts, not_before"
)


def connect(path: Path) -> sqlite3.Connection:
    """Open the journal durably: WAL, and every commit fsynced (`synchronous=FULL`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _private(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    # Small pages: a lone delivery commits a few KiB, not a few large pages.
    conn.execute("PRAGMA page_size = 4096")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"journal {path} could not switch to WAL (got {mode})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA journal_size_limit = 67108864")  # trim the WAL back to 64 MiB
    # Frequent small checkpoints: each one delays the commit it runs in by little.
    conn.execute("PRAGMA wal_autocheckpoint = 256")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"journal {path} has schema version {version}, newer than this release"
            f" ({SCHEMA_VERSION}); upgrade the orchestrator"
        )
    conn.executescript(_SCHEMA)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return conn


def _private(path: Path) -> None:
    """The journal holds payloads: only its owner may read it. SQLite gives the -wal and -shm
    files the database file's mode, so creating that one 0600 covers all three."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with contextlib.suppress(PermissionError):  # not ours: the open below will say so
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
    else:
        os.close(fd)


def pragmas(conn: sqlite3.Connection) -> dict[str, str]:
    """The durability settings in force, as SQLite reports them."""
    synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return {
        "journal_mode": str(conn.execute("PRAGMA journal_mode").fetchone()[0]),
        "synchronous": synchronous[conn.execute("PRAGMA synchronous").fetchone()[0]],
    }


def insert(conn: sqlite3.Connection, incoming: Incoming, now: float) -> int | None:
    """Journal a delivery; return its sequence number, or None if the id was already seen."""
    return insert_many(conn, [incoming], now)[0]


_ROW_PLACEHOLDERS = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
_MAX_ROWS_PER_STATEMENT = 500  # 9 variables a row, well under SQLite's 32,766


def insert_many(
    conn: sqlite3.Connection, batch: Sequence[Incoming], now: float
) -> list[int | None]:
    """Journal many deliveries with a few statements; None marks an id already seen.

    One multi-row INSERT ... RETURNING per chunk instead of a statement per delivery: under
    load this is most of the journal's cost on the event loop.
    """
    assigned: dict[str, int] = {}
    for start in range(0, len(batch), _MAX_ROWS_PER_STATEMENT):
        chunk = batch[start : start + _MAX_ROWS_PER_STATEMENT]
        params: list[object] = []
        for i in chunk:
            params += (i.delivery_id, i.event, i.action, i.repository, i.installation_id,
                       i.order_key, now, PENDING if i.handled else DONE,
                       None if i.handled else now)  # fmt: skip
        rows = conn.execute(
            "INSERT OR IGNORE INTO deliveries (delivery_id, event, action, repository,"
            " installation_id, order_key, received_at, state, finished_at)"
            f" VALUES {', '.join([_ROW_PLACEHOLDERS] * len(chunk))} RETURNING delivery_id, seq",
            params,
        ).fetchall()
        assigned.update(rows)
    seqs: list[int | None] = []
    bodies: list[tuple[int, bytes]] = []
    for incoming in batch:
        seq = assigned.pop(incoming.delivery_id, None)  # a repeat in the same batch gets None
        seqs.append(seq)
        if seq is not None:
            bodies.append((seq, incoming.body))
    conn.executemany("INSERT INTO payloads (seq, body) VALUES (?, ?)", bodies)
    return seqs


def mark_done_many(conn: sqlite3.Connection, finished: Sequence[tuple[int, int, float]]) -> None:
    """Record many (seq, attempts, finished_at) as done in one call."""
    conn.executemany(
        "UPDATE deliveries SET state = ?, attempts = ?, finished_at = ?, not_before = 0"
        " WHERE seq = ? AND state = ?",
        [(DONE, attempts, now, seq, PENDING) for seq, attempts, now in finished],
    )


def pending(conn: sqlite3.Connection) -> list[Delivery]:
    """Every unfinished delivery, oldest first, without payloads."""
    rows = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE state = ? ORDER BY seq", (PENDING,)
    ).fetchall()
    return [Delivery(*row) for row in rows]


def mark_done(conn: sqlite3.Connection, seq: int, attempts: int, now: float) -> None:
    mark_done_many(conn, [(seq, attempts, now)])


def mark_retry(
    conn: sqlite3.Connection, seq: int, attempts: int, error: str, not_before: float
) -> None:
    conn.execute(
        "UPDATE deliveries SET attempts = ?, last_error = ?, not_before = ?"
        " WHERE seq = ? AND state = ?",
        (attempts, error, not_before, seq, PENDING),
    )


def mark_dead(conn: sqlite3.Connection, seq: int, attempts: int, error: str, now: float) -> None:
    conn.execute(
        "UPDATE deliveries SET state = ?, attempts = ?, last_error = ?, finished_at = ?"
        " WHERE seq = ? AND state = ?",
        (DEAD, attempts, error, now, seq, PENDING),
    )


def find(conn: sqlite3.Connection, ref: str) -> DeliveryRecord | None:
    """Look a delivery up by its GitHub delivery id, or by its journal sequence number."""
    row = conn.execute(
        f"SELECT {_RECORD_COLUMNS} FROM deliveries WHERE delivery_id = ?", (ref,)
    ).fetchone()
    if row is None and ref.isdigit():
        row = conn.execute(
            f"SELECT {_RECORD_COLUMNS} FROM deliveries WHERE seq = ?", (int(ref),)
        ).fetchone()
    return DeliveryRecord(*row) if row else None


def body(conn: sqlite3.Connection, seq: int) -> bytes | None:
    row = conn.execute("SELECT body FROM payloads WHERE seq = ?", (seq,)).fetchone()
    return bytes(row[0]) if row else None


def listing(conn: sqlite3.Connection, state: str | None, limit: int) -> list[DeliveryRecord]:
    """The newest deliveries first, optionally in one state."""
    where, params = ("WHERE state = ?", (state,)) if state else ("", ())
    rows = conn.execute(
        f"SELECT {_RECORD_COLUMNS} FROM deliveries {where} ORDER BY seq DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [DeliveryRecord(*row) for row in rows]


def replay(conn: sqlite3.Connection, seq: int) -> bool:
    """Queue a finished delivery again; a running server picks it up on its next sweep."""
    cur = conn.execute(
        "UPDATE deliveries SET state = ?, attempts = 0, not_before = 0, finished_at = NULL"
        " WHERE seq = ? AND state != ?",
        (PENDING, seq, PENDING),
    )
    return cur.rowcount == 1


def _delete(conn: sqlite3.Connection, where: str, params: tuple[object, ...]) -> int:
    conn.execute(
        f"DELETE FROM payloads WHERE seq IN (SELECT seq FROM deliveries WHERE {where})",
        params,
    )
    return conn.execute(f"DELETE FROM deliveries WHERE {where}", params).rowcount


def purge_dead(conn: sqlite3.Connection) -> int:
    """Delete dead deliveries for good (an operator's decision, never automatic)."""
    return _delete(conn, "state = ?", (DEAD,))


def prune_done(conn: sqlite3.Connection, older_than: float, limit: int = -1) -> int:
    """Forget up to `limit` `done` deliveries that finished before `older_than` (-1: all).

    Dead ones stay until an operator purges them.
    """
    return _delete(
        conn,
        "seq IN (SELECT seq FROM deliveries"
        " WHERE state = ? AND finished_at < ? ORDER BY seq LIMIT ?)",
        (DONE, older_than, limit),
    )


def stats(conn: sqlite3.Connection) -> dict[str, float | int | None]:
    """Queue depth, age of the oldest pending delivery and the dead count, for /readyz."""
    depth, oldest = conn.execute(
        "SELECT count(*), min(received_at) FROM deliveries WHERE state = ?", (PENDING,)
    ).fetchone()
    (dead,) = conn.execute("SELECT count(*) FROM deliveries WHERE state = ?", (DEAD,)).fetchone()
    return {
        "queue_depth": depth,
        "oldest_pending_age_s": round(time.time() - oldest, 3) if oldest is not None else None,
        "dead": dead,
    }


def touch(conn: sqlite3.Connection, now: float) -> None:
    """A tiny write that proves the journal still accepts commits."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('heartbeat', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (repr(now),),
    )
