"""Putting the App's own things on GitHub exactly once: a comment edited by its marker, and a
pull request found by its head branch before one is opened."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gidgethub.abc import GitHubAPI

from bot.github.markers import find_marked_comment


async def edit_comment(
    gh: GitHubAPI, comments_url: str, mark: str, body: str, app_id: int
) -> dict[str, Any] | None:
    """The App's comment carrying `mark`, edited to `body` (only when it changed); None when
    there is none yet. For a comment someone else posts first (a command's answer), so two
    writers never race to post it twice."""
    text = body if mark in body else f"{body}\n\n{mark}"
    existing = await find_marked_comment(gh, comments_url, mark, app_id)
    if existing is None or existing.get("body") == text:
        return existing
    return dict(await gh.patch(existing["url"], data={"body": text}))


async def find_or_open_pull(
    gh: GitHubAPI,
    repository: dict[str, Any],
    *,
    head: str,
    base: str,
    title: str,
    body: str,
    draft: bool = False,
) -> tuple[dict[str, Any], bool]:
    """(the pull request from branch `head`, whether it was opened now). One already open
    or merged from that branch is the one: a retry never opens a second."""
    owner = repository["owner"]["login"]
    pulls_url = repository["pulls_url"].replace("{/number}", "")
    query = f"{pulls_url}?head={quote(f'{owner}:{head}', safe='')}&state=all&per_page=100"
    found = [dict(pull) async for pull in gh.getiter(query)]
    for pull in found:
        if pull.get("state") == "open" or pull.get("merged_at"):
            return pull, False
    data: dict[str, Any] = {"title": title, "head": head, "base": base, "body": body}
    if draft:
        data["draft"] = True
    return dict(await gh.post(pulls_url, data=data)), True
