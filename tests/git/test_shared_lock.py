"""The clone's lock: pushes side by side, a fetch or a worktree change alone, in the order
asked (a stream of pushes never starves a fetch)."""

from __future__ import annotations

import asyncio

from bot.git.shared_lock import SharedLock


async def test_sharers_go_together_and_an_exclusive_holder_alone_in_the_order_asked():
    lock, events = SharedLock(), []
    release = asyncio.Event()

    async def push(name: str) -> None:
        async with lock.shared():
            events.append(f"{name} in")
            await release.wait()
            events.append(f"{name} out")

    async def fetch() -> None:
        async with lock.exclusive():
            events.append("fetch in")
            await asyncio.sleep(0)
            events.append("fetch out")

    first = [asyncio.create_task(push(n)) for n in ("a", "b")]
    await asyncio.sleep(0.01)
    assert events == ["a in", "b in"] and lock.sharing == 2  # side by side
    fetching = asyncio.create_task(fetch())
    await asyncio.sleep(0.01)
    late = asyncio.create_task(push("c"))  # asks after the fetch: waits for it
    await asyncio.sleep(0.01)
    assert events == ["a in", "b in"]
    release.set()
    await asyncio.gather(*first, fetching, late)
    assert events.index("fetch in") > max(events.index("a out"), events.index("b out"))
    assert events.index("fetch out") < events.index("c in")
    assert not lock.locked()


async def test_an_exclusive_holder_cancelled_while_waiting_lets_the_sharers_on():
    lock = SharedLock()
    release = asyncio.Event()

    async def hold() -> None:
        async with lock.shared():
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.01)

    async def fetch() -> None:
        async with lock.exclusive():
            raise AssertionError("never reached: cancelled while it waits")

    waiting = asyncio.create_task(fetch())
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    async with asyncio.timeout(1):
        async with lock.shared():  # not kept out by the cancelled one
            pass
    release.set()
    await holder
    async with asyncio.timeout(1), lock.exclusive():
        assert lock.sharing == 0
