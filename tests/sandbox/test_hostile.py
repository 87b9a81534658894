"""A hostile repository, one attack per test, through the real sandbox: each gets nothing and
leaves nothing running."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from bot.sandbox.policy import environment
from bot.sandbox.runner import RunResult, Sandbox
from tests.sandbox.conftest import LIMITS, Server, leftovers

pytestmark = pytest.mark.sandbox


async def attack(sandbox: Sandbox, server: Server, script: str, **limits: float) -> RunResult:
    """Run `script` tagged with a fresh token; afterwards no process may carry that token."""
    token = f"hostile-{uuid.uuid4().hex}"
    result = await sandbox.run(
        server.worktree,
        f": {token}; {script}",
        limits=dataclasses.replace(LIMITS, **limits),
    )
    assert leftovers(token) == []
    return result


def shows_no_secret(server: Server, result: RunResult) -> None:
    for secret in server.secrets:
        assert secret.encode() not in result.output


async def test_printing_the_environment_shows_only_a_fresh_one(sandbox, server):
    result = await attack(sandbox, server, "env; echo; set")
    assert result.ok, result.output
    shows_no_secret(server, result)
    names = {
        line.split(b"=", 1)[0].decode()
        for line in result.output.split(b"\n\n", 1)[0].splitlines()
        if b"=" in line
    }
    assert names <= {*environment(), "PWD", "SHLVL", "_"}, names


async def test_reading_the_parents_environ_shows_no_secret(sandbox, server):
    script = (
        "cat /proc/$PPID/environ; cat /proc/1/environ; "
        f"cat /proc/{os.getpid()}/environ /proc/{os.getppid()}/environ; "
        "for f in /proc/[0-9]*/environ; do cat $f; echo; done"
    )
    result = await attack(sandbox, server, script)
    assert b"PATH=" in result.output  # the reads worked: they found only sandbox processes
    shows_no_secret(server, result)


async def test_reading_the_apps_private_key_fails(sandbox, server):
    key = server.key_path
    script = (
        f"cat {key}; cat /workspace/../..{key}; cat $GITHUB_PRIVATE_KEY_PATH; ls -la {key.parent}"
    )
    result = await attack(sandbox, server, script)
    assert result.exit_code != 0
    assert b"No such file or directory" in result.output
    shows_no_secret(server, result)


async def test_reading_another_worktree_and_the_data_dir_fails(sandbox, server):
    script = (
        f"cat {server.other}/secret.txt ../1-2-neighbour/secret.txt; "
        f"ls {server.data_dir}; cat {server.data_dir}/journal.sqlite3; "
        "find / -xdev -name secret.txt 2>/dev/null; find / -name 'journal*' 2>/dev/null; true"
    )
    result = await attack(sandbox, server, script)
    assert result.ok
    assert b"No such file or directory" in result.output
    assert b"secret.txt" not in result.output.replace(b"/secret.txt: No such", b"")
    shows_no_secret(server, result)


async def test_reading_the_servers_home_fails(sandbox, server):
    home = Path.home()
    result = await attack(sandbox, server, f"ls -a {home}; ls -a ~; ls /")
    assert f"{home}': No such file or directory".encode() in result.output
    assert b"workspace" in result.output  # `ls /` worked: only the sandbox's own root


async def test_connecting_to_a_listener_on_localhost_fails(sandbox, server):
    with Listener() as listener:
        script = f"bash -c 'echo hello > /dev/tcp/127.0.0.1/{listener.port}' && echo connected"
        result = await attack(sandbox, server, script)
        await asyncio.sleep(0.2)
    assert b"connected" not in result.output
    assert result.exit_code != 0
    assert listener.accepted == 0


async def test_a_fork_bomb_is_contained(sandbox, server):
    result = await attack(sandbox, server, "bomb() { bomb | bomb & }; bomb; sleep 3", time_s=8.0)
    assert result.duration_s < 15
    assert b"Cannot fork" in result.output  # the process cap was hit, not the time limit
    if sandbox.cgroups is not None:
        assert result.peak_pids is not None and result.peak_pids <= LIMITS.pids


async def test_writing_10_gb_stops_at_the_file_limit(sandbox, server):
    script = "dd if=/dev/zero of=big bs=1M count=10240; ls -l big"
    result = await attack(sandbox, server, script, time_s=30.0)
    assert b"File too large" in result.output
    assert (server.worktree / "big").stat().st_size <= LIMITS.file_bytes
    # and /tmp is a small tmpfs, not the host's disk
    result = await attack(sandbox, server, "dd if=/dev/zero of=/tmp/big bs=1M count=10240")
    assert b"No space left on device" in result.output or b"File too large" in result.output


async def test_memory_beyond_the_limit_is_refused(sandbox, server):
    result = await attack(sandbox, server, "dd if=/dev/zero of=/dev/null bs=512M count=1")
    assert result.exit_code != 0


async def test_sleeping_past_the_limit_is_killed(sandbox, server):
    result = await attack(sandbox, server, "sleep 120 & sleep 120", time_s=1.0)
    assert result.timed_out and result.exit_code is None
    assert result.duration_s < 10


async def test_a_background_process_is_not_left_behind(sandbox, server):
    result = await attack(sandbox, server, "(while :; do sleep 1; done) & echo started")
    assert result.ok and b"started" in result.output
    assert result.duration_s < 10  # the run ended with its command, not at the time limit


async def test_output_is_capped_head_and_tail_kept(sandbox, server):
    result = await attack(sandbox, server, "echo FIRST; yes | head -c 5000000; echo; echo LAST")
    assert result.truncated
    assert len(result.output) < LIMITS.output_bytes + 100
    assert result.output.startswith(b"FIRST") and result.output.rstrip().endswith(b"LAST")


async def test_the_worktree_is_writable_and_nothing_else_is(sandbox, server):
    script = (
        "echo made > made.txt; touch ~/x /tmp/y && echo scratch-ok; touch /usr/x /etc/x /x 2>&1"
    )
    result = await attack(sandbox, server, script)
    assert (server.worktree / "made.txt").read_text() == "made\n"
    assert b"scratch-ok" in result.output
    assert (
        result.output.count(b"Read-only file system") + result.output.count(b"Permission denied")
        == 3
    ), result.output


async def test_setup_gets_the_network_but_still_no_secret(sandbox, server):
    with Listener() as listener:
        script = f"bash -c 'echo hello > /dev/tcp/127.0.0.1/{listener.port}' && env"
        token = uuid.uuid4().hex
        result = await sandbox.run(server.worktree, f": {token}; {script}", network=True)
        listener.wait_for(1)
    assert result.ok, result.output
    assert listener.accepted == 1
    shows_no_secret(server, result)
    assert leftovers(token) == []


class Listener:
    """A TCP listener on 127.0.0.1 in the test process, counting the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def wait_for(self, count: int, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.accepted < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()
