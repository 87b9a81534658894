"""Hidden markers that make the bot's comments findable, so a retry never posts twice.

A marker is an HTML comment (`<!-- ao:kind:key -->`): invisible on GitHub, stable across
retries. It only counts in a comment the App itself wrote; anyone can type one.
"""

from __future__ import annotations

import re
from typing import Any

from gidgethub.abc import GitHubAPI

_SAFE_KEY = re.compile(r"^[A-Za-z0-9._:-]+$")


def marker(kind: str, key: str | int) -> str:
    text = f"{kind}:{key}"
    if not _SAFE_KEY.match(text):
        raise ValueError(f"marker {text!r} must be letters, digits and ._:-")
    return f"<!-- ao:{text} -->"


def written_by_app(comment: dict[str, Any], app_id: int) -> bool:
    """Whether GitHub says this App wrote the comment (not a person imitating it)."""
    app = comment.get("performed_via_github_app") or {}
    return isinstance(app, dict) and app.get("id") == app_id


async def find_marked_comment(
    gh: GitHubAPI, comments_url: str, mark: str, app_id: int
) -> dict[str, Any] | None:
    """The App's comment on an issue or PR that carries `mark`, if there is one."""
    async for comment in gh.getiter(comments_url):
        if written_by_app(comment, app_id) and mark in (comment.get("body") or ""):
            return dict(comment)
    return None
