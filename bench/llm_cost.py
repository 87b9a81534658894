"""What prompt caching saves: a 20-turn developer tool loop over a 30k-token project context.

Runs the loop through the real Anthropic SDK against the local Anthropic-protocol server
(which applies Anthropic's prefix-caching rule to the `cache_control` breakpoints we send),
then prints the share of input tokens served from cache (target >= 70%), the dollars with
and without caching at the model's price, and our own overhead per call, SDK and HTTP
excluded (target < 2 ms).

    .venv/bin/python -m bench.llm_cost
"""

from __future__ import annotations

import asyncio
import statistics
import time

from aiohttp import web

from bot.llm.anthropic_client import AnthropicClient, build_params
from bot.llm.ledger import CostLedger
from bot.llm.metered import Metered
from bot.llm.pricing import PriceTable
from bot.llm.types import Message, Request, ToolSpec, Usage
from bot.llm.window import fit, window_for
from bot.localmodel.anthropic_wire import AnthropicServer

MODEL = "claude-haiku-4-5"
TURNS = 20
READ = ToolSpec(
    "read_file",
    "Read a file of the repository",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)


async def main() -> None:
    server = AnthropicServer()
    runner = web.AppRunner(server.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = AnthropicClient(MODEL, api_key="bench", base_url=f"http://127.0.0.1:{port}")
    llm = Metered(client, PriceTable.load(), CostLedger())
    files = [f"src/module_{n:02d}.py" for n in range(TURNS)]
    context = ("# Project documents\n" + "The todo app keeps one list per folder. " * 3000,)
    task = "Implement story 1-1. " + " ".join(f"Read `{path}`." for path in files)
    messages: list[Message] = [Message("user", task)]
    own: list[float] = []
    for _turn in range(TURNS):
        request = Request(
            "You are Amelia, the developer.", tuple(messages), context, (READ,), max_tokens=1024
        )
        started = time.perf_counter()
        build_params(fit(request, window_for(MODEL)), MODEL)
        own.append(time.perf_counter() - started)
        completion = await llm.complete(request, charge={"workflow": "dev-story", "agent": "dev"})
        messages.append(Message("assistant", completion.text, completion.tool_calls))
        for call in completion.tool_calls:
            body = f"# {call.arguments['path']}\n" + "def handler():\n    return 42\n" * 60
            messages.append(Message("tool", body, tool_call_id=call.id))
    await runner.cleanup()

    usage = [c.usage for c in llm.ledger.charges]
    read = sum(u.cache_read_tokens for u in usage)
    written = sum(u.cache_write_tokens for u in usage)
    fresh = sum(u.input_tokens for u in usage)
    total_input = read + written + fresh
    output = sum(u.output_tokens for u in usage)
    price = llm.price
    with_cache = llm.ledger.total_usd
    without = price.cost(Usage(input_tokens=total_input, output_tokens=output))
    overhead_ms = (llm.overhead_s / len(usage) + statistics.mean(own)) * 1000
    print(
        f"model {client.spec}, {len(usage)} calls, {total_input:,} input tokens "
        f"({read:,} cache read, {written:,} cache write, {fresh:,} uncached)"
    )
    share = read / total_input
    print(f"served from cache: {share:.1%} (target >= 70%: {'ok' if share >= 0.7 else 'MISSED'})")
    print(
        f"dollars: ${with_cache:.4f} with caching, ${without:.4f} without "
        f"({with_cache / without:.2f}x)"
    )
    print(
        f"our overhead per call (SDK and HTTP excluded): {overhead_ms:.3f} ms "
        f"(target < 2 ms: {'ok' if overhead_ms < 2 else 'MISSED'})"
    )


if __name__ == "__main__":
    asyncio.run(main())
