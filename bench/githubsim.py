"""What holding every exchange to GitHub's description costs the stand-in, and a command's
round trip end to end.

Runs the same mixed workload (list labels, create an issue, comment, list comments, react)
through gidgethub against the stand-in without and with the OpenAPI checks, interleaved in
rounds so machine noise hits both alike, and prints calls per second and their ratio.

    .venv/bin/python -m bench.githubsim [ROUNDS] [CALLS_PER_ROUND]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import aiohttp
from gidgethub.aiohttp import GitHubAPI

from githubsim import GitHubSim
from githubsim.conformance import RestDescription, WebhookDescription
from tests.sim_support import rest_description_path, webhook_description_path


async def workload(sim: GitHubSim, calls: int) -> float:
    """Seconds for `calls` API calls of the mix the bot makes."""
    repository = sim.create_repository(f"bench/r{time.monotonic_ns()}")
    base = f"/repos/{repository.full_name}"
    async with aiohttp.ClientSession() as session:
        gh = GitHubAPI(session, "bench", oauth_token=sim.user_token("bench"), base_url=sim.url)
        start = time.perf_counter()
        done = 0
        while done < calls:
            issue = await gh.post(f"{base}/issues", data={"title": "t", "body": "b"})
            comment = await gh.post(issue["comments_url"], data={"body": "/ao ping"})
            await gh.post(comment["url"] + "/reactions", data={"content": "eyes"})
            await gh.getitem(issue["comments_url"])
            await gh.getitem(f"{base}/labels")
            done += 5
        return time.perf_counter() - start


async def main(rounds: int, calls: int) -> None:
    started = time.perf_counter()
    rest = RestDescription(rest_description_path())
    hooks = WebhookDescription(webhook_description_path())
    print(f"descriptions parsed in {time.perf_counter() - started:.2f} s")
    plain, checked = GitHubSim(), GitHubSim(rest=rest, webhooks=hooks)
    await plain.start()
    await checked.start()
    await workload(checked, 10)  # warm the validators' caches
    rates: dict[str, list[float]] = {"unchecked": [], "checked": []}
    for _ in range(rounds):
        for name, sim in (("unchecked", plain), ("checked", checked)):
            rates[name].append(calls / await workload(sim, calls))
    await plain.stop()
    await checked.stop()
    assert not checked.violations, checked.violations[:3]
    for name, values in rates.items():
        print(f"{name:>10}: {statistics.median(values):7.0f} calls/s "
              f"(rounds: {', '.join(f'{v:.0f}' for v in values)})")  # fmt: skip
    ratio = statistics.median(rates["checked"]) / statistics.median(rates["unchecked"])
    print(f"checked / unchecked: {ratio:.2f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5,
                     int(sys.argv[2]) if len(sys.argv) > 2 else 500))  # fmt: skip
