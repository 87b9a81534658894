"""SIGKILL mid-stream: nothing acknowledged is lost, and every effect happens exactly once."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys

import aiohttp
import orjson
import pytest

from tests.support import ROOT, delivery_headers, repo_payload

pytestmark = pytest.mark.slow


def start_server(data_dir, port, effects) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.crash_server", str(data_dir), str(port), str(effects)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def wait_until_up(session, base) -> None:
    async with asyncio.timeout(20):
        while True:
            try:
                async with session.get(f"{base}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)


async def test_sigkill_mid_stream_loses_no_acknowledged_delivery(tmp_path, unused_tcp_port):
    data_dir, effects = tmp_path / "data", tmp_path / "effects.sqlite3"
    base = f"http://127.0.0.1:{unused_tcp_port}"
    acknowledged: set[str] = set()
    sent = 0
    server = start_server(data_dir, unused_tcp_port, effects)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_until_up(session, base)

            async def sender(worker: int) -> None:
                nonlocal sent
                for n in range(10_000):
                    delivery_id = f"crash-{worker}-{n}"
                    body = orjson.dumps(repo_payload(worker % 3, n))
                    sent += 1
                    try:
                        async with session.post(
                            f"{base}/webhooks",
                            data=body,
                            headers=delivery_headers(
                                "issue_comment", body, delivery_id=delivery_id
                            ),
                        ) as resp:
                            if resp.status in (200, 202):
                                acknowledged.add(delivery_id)
                    except (TimeoutError, aiohttp.ClientError):
                        return  # the server is gone

            senders = [asyncio.create_task(sender(w)) for w in range(8)]
            while len(acknowledged) < 400:
                await asyncio.sleep(0.005)
            server.send_signal(signal.SIGKILL)  # mid-stream: requests are in flight
            server.wait(10)
            await asyncio.gather(*senders)

        journal = data_dir / "journal.sqlite3"
        with sqlite3.connect(journal) as conn:
            journaled = {r[0] for r in conn.execute("SELECT delivery_id FROM deliveries")}
            backlog = conn.execute(
                "SELECT count(*) FROM deliveries WHERE state = 'pending'"
            ).fetchone()[0]
        assert acknowledged <= journaled, "a delivery answered 2xx is missing from the journal"
        assert backlog > 0, "the kill should leave undispatched deliveries behind"
        assert sent > len(acknowledged)  # some requests were cut off by the kill

        server = start_server(data_dir, unused_tcp_port, effects)
        async with aiohttp.ClientSession() as session:
            await wait_until_up(session, base)
            async with asyncio.timeout(60):
                while True:
                    async with session.get(f"{base}/readyz") as resp:
                        ready = await resp.json()
                    if ready["queue_depth"] == 0:
                        break
                    await asyncio.sleep(0.1)
        assert ready["dead"] == 0
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(10)

    with sqlite3.connect(effects) as conn:
        applied = [r[0] for r in conn.execute("SELECT delivery_id FROM effects")]
        calls = dict(conn.execute("SELECT delivery_id, count(*) FROM calls GROUP BY delivery_id"))
    assert len(applied) == len(set(applied))
    assert acknowledged <= set(applied), "an acknowledged delivery never took effect"
    assert set(applied) == journaled  # everything journaled ran, and nothing else did
    assert all(calls[d] >= 1 for d in journaled)
    print(
        f"sent {sent}, acknowledged {len(acknowledged)}, journaled {len(journaled)}, "
        f"backlog at kill {backlog}, handler calls {sum(calls.values())}, "
        f"effects {len(applied)}"
    )
