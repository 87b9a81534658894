"""The App's one edited comment on a story's pull request per concern (review rounds,
merging): found by its marker among the comments the App's bot user wrote, edited in place,
posted only once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.stories.deliver import Place

_ADDRESSED = re.compile(r"<!-- ao:addressed:(\d+) -->")


async def find_own(place: Place, url: str, mark: str) -> dict[str, Any] | None:
    """The App's comment carrying `mark` at `url` (a person's copy of it is never taken)."""
    async for comment in place.gh.getiter(f"{url}?per_page=100"):
        if (comment.get("user") or {}).get("login") == place.identity.name and mark in (
            comment.get("body") or ""
        ):
            return dict(comment)
    return None


async def show(place: Place, pull: Mapping[str, Any], mark: str, body: str) -> dict[str, Any]:
    """The comment carrying `mark` on the pull request, posted or edited to `body`."""
    text = body if mark in body else f"{body}\n\n{mark}"
    url = str(pull["comments_url"])
    found = await find_own(place, url, mark)
    if found is None:
        return dict(await place.gh.post(url, data={"body": text}))
    if found.get("body") == text:
        return found
    return dict(await place.gh.patch(found["url"], data={"body": text}))


def addressed(body: str) -> list[int]:
    """The review ids a review-rounds comment says were addressed, in order."""
    return [int(found) for found in _ADDRESSED.findall(body)]
