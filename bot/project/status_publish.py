"""The status issue on GitHub ("Agent Orchestrator status"): one per repository, found again by
its marker in the App's own issue, its body kept current (debounced: a burst of changes is one
edit), pinned with GraphQL's pinIssue. GitHub pins at most 3 issues: when that refuses, the
issue stays unpinned and the log says so."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import gidgethub
from gidgethub.abc import GitHubAPI

from bot.github.markers import written_by_app
from bot.project.status_issue import MARK, TITLE

log = logging.getLogger(__name__)

#: Seconds a burst of changes is gathered into one edit of the status issue.
DEBOUNCE_S = 2.0
PIN = "mutation($id: ID!) { pinIssue(input: {issueId: $id}) { issue { number } } }"
TROUBLE = (gidgethub.GitHubException, aiohttp.ClientError)
Client = Callable[[], Awaitable[GitHubAPI]]


def graphql_url(gh: GitHubAPI) -> str:
    """GitHub's GraphQL endpoint beside the REST API the client talks to (github.com,
    GitHub Enterprise's `/api/v3`, or the local GitHub)."""
    base = str(getattr(gh, "base_url", "https://api.github.com")).rstrip("/")
    if base.endswith("/api/v3"):
        return base.removesuffix("/v3") + "/graphql"
    return base + "/graphql"


def is_status_issue(issue: dict[str, Any], app_id: int) -> bool:
    return written_by_app(issue, app_id) and MARK in (issue.get("body") or "")


class StatusIssues:
    """Publishes each repository's status issue, at most once per `debounce_s`."""

    def __init__(self, app_id: int, debounce_s: float = DEBOUNCE_S) -> None:
        self.app_id = app_id
        self.debounce_s = debounce_s
        self._latest: dict[str, tuple[Client, str]] = {}  # repository -> newest body
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._pinned: set[str] = set()  # repositories whose pin was tried by this server

    def show(self, repository: str, client: Client, body: str) -> None:
        """Publish `body` soon; a newer body asked for meanwhile replaces it."""
        self._latest[repository] = (client, body)
        task = self._tasks.get(repository)
        if task is None or task.done():
            self._tasks[repository] = asyncio.create_task(self._later(repository))

    async def _later(self, repository: str) -> None:
        await asyncio.sleep(self.debounce_s)
        client, body = self._latest.pop(repository)
        try:
            await self.publish(await client(), repository, body)
        except TROUBLE as exc:  # the next change or the start-up reconcile shows it
            log.warning("the status issue was not updated",
                        extra={"repository": repository, "error": repr(exc)})  # fmt: skip

    async def publish(self, gh: GitHubAPI, repository: str, body: str) -> dict[str, Any]:
        """The status issue with `body`: found (edited only when it changed) or opened."""
        issue = await self.find(gh, repository)
        if issue is None:
            issue = dict(await gh.post(f"/repos/{repository}/issues",
                                       data={"title": TITLE, "body": body}))  # fmt: skip
            log.info("status issue opened",
                     extra={"repository": repository, "number": issue["number"]})  # fmt: skip
        elif issue.get("body") != body:
            await gh.patch(issue["url"], data={"body": body})
        if repository not in self._pinned:
            self._pinned.add(repository)
            await self.pin(gh, repository, issue)
        return issue

    async def find(self, gh: GitHubAPI, repository: str) -> dict[str, Any] | None:
        query = f"/repos/{repository}/issues?state=all&per_page=100"
        async for issue in gh.getiter(query):
            if is_status_issue(issue, self.app_id):
                return dict(issue)
        return None

    async def pin(self, gh: GitHubAPI, repository: str, issue: dict[str, Any]) -> bool:
        """Pin the issue (again: pinning a pinned issue changes nothing); False when GitHub
        refuses, e.g. three issues are pinned already."""
        try:
            await gh.graphql(PIN, endpoint=graphql_url(gh), id=issue["node_id"])
        except gidgethub.GraphQLException as exc:
            log.warning(
                "the status issue stays unpinned",
                extra={"repository": repository, "number": issue.get("number"),
                       "reason": str(exc)},
            )  # fmt: skip
            return False
        return True

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
