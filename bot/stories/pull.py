"""The story's pull request: opened once as a draft (found by its head branch on a retry),
its text kept current, and out of draft only once the orchestrator has verified the work.

Where a repository refuses drafts (private repositories on GitHub Free), it is an ordinary
pull request whose title says "[in progress]" until it is verified, then retitled. GitHub's
REST API cannot take a pull request out of draft: that is GraphQL's
`markPullRequestReadyForReview`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gidgethub import ValidationError
from gidgethub.abc import GitHubAPI

from bot.github.publishing import find_or_open_pull

DRAFT_REFUSED = "Draft pull requests are not supported"
IN_PROGRESS = "[in progress] "
READY = """
mutation($id: ID!) {
  markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { isDraft } }
}
"""


def story_mark(key: str) -> str:
    return f"<!-- ao:story:{key} -->"


def ready(pull: Mapping[str, Any]) -> bool:
    """Open and out of draft: verified, for the reviewer and people."""
    return pull.get("state") == "open" and not pull.get("draft")


async def story_pulls(gh: GitHubAPI, repository: str) -> dict[str, dict[str, Any]]:
    """Each story's pull request by its head branch `story/<key>`: the open one, else the
    merged one, else the newest closed one."""
    found: dict[str, dict[str, Any]] = {}
    async for pull in gh.getiter(f"/repos/{repository}/pulls?state=all&per_page=100"):
        ref = str(pull["head"]["ref"])
        if not ref.startswith("story/"):
            continue
        key = ref.removeprefix("story/")
        kept = found.get(key)
        if kept is None or (kept.get("state") != "open" and (
                pull.get("state") == "open" or pull.get("merged_at"))):  # fmt: skip
            found[key] = dict(pull)
    return found


async def open_draft(
    gh: GitHubAPI, repository: Mapping[str, Any], *, head: str, title: str, body: str
) -> dict[str, Any]:
    """The story's pull request, as a draft (or marked in progress) when it is new."""
    base = str(repository["default_branch"])
    try:
        pull, _ = await find_or_open_pull(
            gh, dict(repository), head=head, base=base, title=title, body=body, draft=True
        )
    except ValidationError as exc:
        if DRAFT_REFUSED not in str(exc):
            raise
        pull, _ = await find_or_open_pull(
            gh, dict(repository), head=head, base=base, title=IN_PROGRESS + title, body=body
        )
    return pull


def in_progress(pull: Mapping[str, Any]) -> bool:
    return bool(pull.get("draft")) or str(pull.get("title", "")).startswith(IN_PROGRESS)


async def update(
    gh: GitHubAPI, pull: Mapping[str, Any], *, title: str, body: str, ready: bool
) -> dict[str, Any]:
    """Its title and text as they should be now; out of draft when `ready` (verified)."""
    shown = title if ready or pull.get("draft") else IN_PROGRESS + title
    changes = {k: v for k, v in (("title", shown), ("body", body)) if pull.get(k) != v}
    current = dict(await gh.patch(pull["url"], data=changes)) if changes else dict(pull)
    if ready and current.get("draft"):
        await gh.graphql(READY, endpoint=graphql_endpoint(gh), id=current["node_id"])
        current["draft"] = False
    return current


def graphql_endpoint(gh: GitHubAPI) -> str:
    """Beside the REST root: `api.github.com/graphql`; on GitHub Enterprise Server
    `/api/v3` is REST's and `/api/graphql` GraphQL's."""
    base = gh.base_url.rstrip("/")
    return base.removesuffix("/v3") + "/graphql" if base.endswith("/api/v3") else base + "/graphql"
