"""Story issues on GitHub: the App's issues found by their markers, the missing ones created
(a bounded number at a time), labels and bodies put right, stories linked under their epic as
sub-issues where GitHub has them."""

from __future__ import annotations

import datetime
import http
import logging
import time
from collections.abc import Sequence
from typing import Any

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from bot.git.remote import Identity
from bot.github.markers import written_by_app
from bot.project.story_issues import Wanted, key_in, label_changes
from bot.runs.github_home import GitHubHome

log = logging.getLogger(__name__)

#: How long an issue's two status labels are left to the person's label event.
SETTLING_S = 60.0
#: Top-level folders that say a repository holds a BMAD project.
BMAD_FOLDERS = ("_bmad", "_bmad-output", "bmad", ".bmad-core")


def _settling(issue: dict[str, Any], now: float | None = None) -> bool:
    """Whether the issue changed less than `SETTLING_S` ago (a person's label event may be
    on its way)."""
    try:
        changed = datetime.datetime.fromisoformat(str(issue.get("updated_at")))
    except ValueError:
        return False
    return (now or time.time()) - changed.timestamp() < SETTLING_S


async def remove_label(gh: GitHubAPI, issue_url: str, name: str) -> None:
    """Take a label off an issue; one already off (someone was faster) is fine."""
    try:
        await gh.delete(issue_url + "/labels/{name}", {"name": name})
    except BadRequest as exc:
        if exc.status_code != http.HTTPStatus.NOT_FOUND:
            raise


class StoryIssues:
    def __init__(self, app_id: int) -> None:
        self.app_id = app_id
        self._no_sub_issues: set[str] = set()  # repositories where GitHub has none (404)
        self._app_issue: dict[str, Any] | None = None  # one, for the App's bot user

    async def existing(self, gh: GitHubAPI, repository: str) -> dict[str, dict[str, Any]]:
        """key → the App's issue for it (a marker in someone else's issue counts for nothing)."""
        found: dict[str, dict[str, Any]] = {}
        async for issue in gh.getiter(f"/repos/{repository}/issues?state=all&per_page=100"):
            if "pull_request" in issue or not written_by_app(issue, self.app_id):
                continue
            self._app_issue = self._app_issue or dict(issue)
            key = key_in(issue.get("body"))
            if key is not None:
                found.setdefault(key, dict(issue))
        return found

    async def reconcile(
        self,
        gh: GitHubAPI,
        repository: str,
        wants: Sequence[Wanted],
        issues: dict[str, dict[str, Any]],
        per_pass: int,
    ) -> int:
        """Make GitHub match `wants` (creating at most `per_pass` issues, added to `issues`);
        how many are still to create."""
        created = left = 0
        for want in wants:
            issue = issues.get(want.key)
            if issue is None:
                if created >= per_pass:
                    left += 1
                    continue
                data = {"title": want.title, "body": want.body,
                        "labels": [want.label] if want.label else []}  # fmt: skip
                issues[want.key] = dict(await gh.post(f"/repos/{repository}/issues", data=data))
                created += 1
                continue
            await self._put_right(gh, issue, want)
        if created:
            log.info("story issues created", extra={"repository": repository,
                                                    "made": created, "left": left})  # fmt: skip
        await self._link(gh, repository, wants, issues)
        return left

    async def _put_right(self, gh: GitHubAPI, issue: dict[str, Any], want: Wanted) -> None:
        labels = [str(label["name"]) for label in issue.get("labels") or []]
        add, remove = label_changes(labels, want.label, settling=_settling(issue))
        url = str(issue["url"])
        for name in remove:
            await remove_label(gh, url, name)
        if add:
            await gh.post(url + "/labels", data={"labels": add})
        if issue.get("body") != want.body:
            await gh.patch(url, data={"body": want.body})

    async def _link(
        self,
        gh: GitHubAPI,
        repository: str,
        wants: Sequence[Wanted],
        issues: dict[str, dict[str, Any]],
    ) -> None:
        """Each epic's stories as its sub-issues (listed only when its count falls short)."""
        if repository in self._no_sub_issues:
            return
        children: dict[str, list[dict[str, Any]]] = {}
        for want in wants:
            if want.epic and want.epic in issues and want.key in issues:
                children.setdefault(want.epic, []).append(issues[want.key])
        for epic, stories in children.items():
            parent = issues[epic]
            total = int((parent.get("sub_issues_summary") or {}).get("total") or 0)
            if total >= len(stories):
                continue
            url = str(parent["url"]) + "/sub_issues"
            try:
                linked = {int(i["id"]) async for i in gh.getiter(url + "?per_page=100")}
                for story in stories:
                    if int(story["id"]) not in linked:
                        await gh.post(url, data={"sub_issue_id": int(story["id"])})
            except BadRequest as exc:
                if exc.status_code == http.HTTPStatus.NOT_FOUND:  # no sub-issues on this GitHub
                    self._no_sub_issues.add(repository)
                    return
                if exc.status_code != http.HTTPStatus.UNPROCESSABLE_ENTITY:
                    raise
                log.info("a story is under another parent: left there",
                         extra={"repository": repository, "epic": epic})  # fmt: skip

    async def identity(self, gh: GitHubAPI, github: GitHubHome, repository: str) -> Identity:
        """Who the App's commits are by: its bot user, as one of its issues shows it."""
        if self._app_issue is None:
            await self.existing(gh, repository)
        return github.identity_from(self._app_issue or {})

    async def has_bmad(self, gh: GitHubAPI, repository: dict[str, Any]) -> bool:
        """Whether the repository's root has a BMAD folder (one call, no clone)."""
        try:
            entries = await gh.getitem(f"/repos/{repository['full_name']}/contents/")
        except BadRequest as exc:
            if exc.status_code == http.HTTPStatus.NOT_FOUND:  # empty repository
                return False
            raise
        names = {str(e.get("name")) for e in entries} if isinstance(entries, list) else set()
        return any(folder in names for folder in BMAD_FOLDERS)
