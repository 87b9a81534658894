"""A person steering a story by its issue: a `story:` label changes the status (committed to
the sprint status by the App), two status labels become one, closing stops the work and
reopening brings it back. Only people with write access steer; the App's own changes never
come back here (the handlers drop events a bot sent).

Precedence (README "Labels and the file"): a label change is applied over the status the
issue showed when the person changed it (the `story:` label they replaced). If a commit
changed that story on the default branch in between, the commit came first and stands: the
label change is not written, the label is put back to the file's status and one comment
says why. A commit that changed another story, or a comment, stands beside the change.
"""

from __future__ import annotations

import logging
from typing import Any

from gidgethub.abc import GitHubAPI

from bot.github.markers import find_marked_comment, marker, written_by_app
from bot.project.board_sync import BoardSync
from bot.project.sprint_status import SprintStatusError
from bot.project.state_commit import StateNotCommitted
from bot.project.statuses import BLOCKED, known
from bot.project.story_issues import LABELLED, PREFIX, key_in, statuses_in
from bot.project.story_sync import remove_label
from bot.templates import render

log = logging.getLogger(__name__)


def story_key(issue: dict[str, Any], app_id: int) -> str | None:
    """The key of a story (or epic) issue the App made; None for anyone else's issue."""
    return key_in(issue.get("body")) if written_by_app(issue, app_id) else None


def label_names(issue: dict[str, Any]) -> list[str]:
    return [str(label["name"]) for label in issue.get("labels") or []]


class LabelSteering:
    def __init__(self, board: BoardSync) -> None:
        self.board = board
        self.app_id = board.github.app_id
        # issue → the status a person just took off, for the label they add next (the
        # deliveries of one repository are handled in order: unlabeled, then labeled)
        self._removed: dict[tuple[str, int], str] = {}

    async def labeled(
        self, gh: GitHubAPI, installation_id: int, data: dict[str, Any], delivery: str
    ) -> None:
        issue, login = data["issue"], data["sender"]["login"]
        key = story_key(issue, self.app_id)
        added = str(data["label"]["name"])
        status = statuses_in([added])[0]
        repo = self.board.repository(installation_id, data["repository"])
        name = repo.home.repository
        if key is None or status not in LABELLED:
            return
        others = [n for n in label_names(issue) if n.lower().startswith(PREFIX) and n != added]
        before = [s for s in statuses_in(others) if s != BLOCKED]
        seen = before[0] if before else self._removed.pop((name, int(issue["number"])), None)
        # The file first: a restart between the two finds the issue with both labels (a pass
        # leaves those to this handler's retry) or the file already changed.
        if status == BLOCKED:
            self.board.note(name, "blocked", login=login, key=key)
            outcome = None
        else:
            try:
                outcome = await self.board.person_sets(repo, key, status, seen, login)
            except (SprintStatusError, StateNotCommitted) as exc:  # not ours to write now
                extra = {"repository": name, "story": key, "error": str(exc)}
                log.warning("a label change could not be written", extra=extra)
                outcome = None
        if others:
            for other in others:
                await remove_label(gh, str(issue["url"]), other)
            await self._comment(gh, issue, marker("one-status", delivery), render(
                "project/one_status.md.j2", user=login, removed=others, kept=added))  # fmt: skip
        self.board.wake(installation_id, data["repository"])
        if outcome is None:
            return
        if outcome.written:
            self.board.note(name, "moved", login=login, key=key, before=outcome.before,
                            status=status)  # fmt: skip
        elif known(outcome.before) != status and outcome.reason.endswith("stands"):
            await self._comment(gh, issue, marker("file-won", delivery), render(
                "project/file_won.md.j2", user=login, key=key, now=outcome.before,
                seen=seen, wanted=status))  # fmt: skip
        log.info("a person changed a story's label",
                 extra={"repository": name, "story": key, "status": status,
                        "written": outcome.written, "reason": outcome.reason})  # fmt: skip

    def unlabeled(self, installation_id: int, data: dict[str, Any]) -> None:
        """Taking a status label off changes nothing by itself; it is what the person saw
        when they add the next one. `story: blocked` taken off: the work goes on."""
        issue = data["issue"]
        key = story_key(issue, self.app_id)
        [status] = statuses_in([str(data["label"]["name"])]) or [""]
        if key is None or status not in LABELLED:
            return
        repo = self.board.repository(installation_id, data["repository"])
        if status == BLOCKED:
            self.board.note(repo.home.repository, "unblocked", login=data["sender"]["login"],
                            key=key)  # fmt: skip
            self.board.wake(installation_id, data["repository"])
        elif not statuses_in(label_names(issue)):
            self._removed[(repo.home.repository, int(issue["number"]))] = status

    def closed_or_reopened(self, installation_id: int, data: dict[str, Any]) -> None:
        key = story_key(data["issue"], self.app_id)
        if key is None:
            return
        repo = self.board.repository(installation_id, data["repository"])
        self.board.note(repo.home.repository, str(data["action"]),
                        login=data["sender"]["login"], key=key)  # fmt: skip
        self.board.wake(installation_id, data["repository"])

    async def refuse(
        self, gh: GitHubAPI, installation_id: int, data: dict[str, Any], delivery: str
    ) -> None:
        """Someone without write access changed a label: it is put back, said once."""
        issue, login = data["issue"], data["sender"]["login"]
        if story_key(issue, self.app_id) is None:
            return
        if data["action"] == "labeled":
            await remove_label(gh, str(issue["url"]), str(data["label"]["name"]))
        await self._comment(gh, issue, marker("label-refused", delivery),
                            render("project/label_refused.md.j2", user=login))  # fmt: skip
        self.board.wake(installation_id, data["repository"])

    async def _comment(self, gh: GitHubAPI, issue: dict[str, Any], mark: str, body: str) -> None:
        url = str(issue["comments_url"])
        if await find_marked_comment(gh, url, mark, self.app_id) is None:
            await gh.post(url, data={"body": f"{body}\n\n{mark}"})
