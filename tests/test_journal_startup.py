"""The server never starts on a journal it cannot write, says why in words, and keeps the
journal (which holds payloads) private."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from bot.intake import store
from bot.intake.preflight import JournalUnusable, check
from tests.support import ROOT, SECRET


def serve(data_dir, port) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "ORCHESTRATOR_DATA_DIR": str(data_dir),
        "ORCHESTRATOR_PORT": str(port),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def journal_of(data_dir):
    return data_dir / "journal.sqlite3"


def test_the_journal_and_its_wal_files_are_private(tmp_path):
    path = tmp_path / "data" / "journal.sqlite3"
    conn = store.connect(path)
    conn.execute("INSERT INTO meta VALUES ('k', 'v')")
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    conn.close()
    assert modes == {f.name: 0o600 for f in files}
    path.chmod(0o644)  # made by an earlier release, or by hand
    store.connect(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_damaged_journal_refuses_to_start_with_what_to_do(tmp_path, unused_tcp_port):
    data = tmp_path / "data"
    data.mkdir()
    journal_of(data).write_bytes(b"this is not SQLite, it was overwritten " * 200)
    result = serve(data, unused_tcp_port)
    assert result.returncode == 2
    assert "receiving webhooks" not in result.stdout
    assert "Traceback" not in result.stderr
    assert "is damaged (file is not a database)" in result.stderr
    assert "move it aside" in result.stderr
    assert '"not started"' in result.stderr  # and a log line says so


def test_a_journal_whose_shm_cannot_be_written_refuses_to_start(tmp_path, unused_tcp_port):
    data = tmp_path / "data"
    store.connect(journal_of(data)).close()
    (data / "journal.sqlite3-shm").mkdir()  # not a file SQLite can map
    result = serve(data, unused_tcp_port)
    assert result.returncode == 2
    assert "receiving webhooks" not in result.stdout and "Traceback" not in result.stderr
    assert "cannot be written (journal.sqlite3-shm is not a regular file)" in result.stderr


def test_a_check_process_killed_by_a_signal_is_reported_not_fatal(tmp_path, monkeypatch):
    # What an -shm that cannot be grown does to SQLite (SIGBUS); the child stands in for it.
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    (tmp_path / "python").write_text("#!/bin/sh\nkill -BUS $$\n")
    (tmp_path / "python").chmod(0o755)
    with pytest.raises(JournalUnusable, match=r"killed the check process \(SIGBUS\)"):
        check(tmp_path / "journal.sqlite3")


def test_a_writable_journal_passes_and_keeps_its_deliveries(tmp_path):
    path = tmp_path / "journal.sqlite3"
    conn = store.connect(path)
    conn.execute("INSERT INTO meta VALUES ('kept', 'yes')")
    conn.close()
    check(path)
    conn = store.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'kept'").fetchone() == ("yes",)
    conn.close()
