"""Before the server says it receives webhooks: can the journal really be written?

The check opens the journal and commits a write in a child process, because SQLite maps the
`-shm` file into memory, and one it cannot grow kills the process with SIGBUS (no exception,
no log line). A child that dies that way is reported; the server never starts on a journal it
cannot write, and a damaged journal is named with what to do, not shown as a traceback.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot.intake import store

_ADVICE = (
    "Check that the data dir and the journal's -wal and -shm files belong to the user running "
    "the orchestrator and are writable, and that the disk has room"
)


class JournalUnusable(Exception):
    """The journal cannot be opened or written; the message says why and what to do."""


def explain(path: Path, exc: BaseException) -> str:
    """A person's account of why the journal at `path` cannot be used."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return (
            f"the journal {path} is damaged ({text}). Stop here and keep the file: move it "
            "aside (deliveries not yet handled in it are then lost unless redelivered from "
            "the App's Recent Deliveries) or restore it from a backup, then start again"
        )
    return f"the journal {path} cannot be written ({text}). {_ADVICE}"


def check(path: Path, *, timeout: float = 60.0) -> None:
    """JournalUnusable unless a child process can open the journal and commit a write."""
    try:
        child = subprocess.run(  # noqa: S603 - our interpreter, our module, one path
            [sys.executable, "-m", "bot.intake.preflight", str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise JournalUnusable(f"the journal {path} did not open within {timeout:g} s") from exc
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        raise JournalUnusable(
            f"writing the journal {path} killed the check process ({name}): its -shm file "
            f"cannot be written or grown. {_ADVICE}"
        )
    if child.returncode != 0:
        lines = child.stderr.strip().splitlines()
        raise JournalUnusable(lines[-1] if lines else f"the journal {path} cannot be used")


def _probe(path: Path) -> None:
    for sidecar in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if sidecar.exists() and not sidecar.is_file():
            raise OSError(f"{sidecar.name} is not a regular file")
    conn = store.connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(f"PRAGMA user_version = {store.SCHEMA_VERSION}")
        conn.execute("COMMIT")
    finally:
        conn.close()


def main() -> None:
    path = Path(sys.argv[1])
    try:
        _probe(path)
    except (sqlite3.Error, OSError) as exc:
        print(explain(path, exc), file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
