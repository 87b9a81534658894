"""The reviewer: a fresh-context persona (BMAD's code-review workflow's owner, its model per
`.github/orchestrator.yml`) reads the story's pull request and posts a real review, inline
comments on lines of the diff and a summary, with its verdict as the `ao/review` check run.

The App cannot approve its own pull request (GitHub answers 422), so the review is a
`COMMENT` and the verdict lives in the check run. The model's findings come as structured
output; one on a line the diff does not show is moved to the summary, never posted on a
wrong line. A retry finds the review by its marker and the check run by its `external_id`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema

from bot.agents.config import ConfigError, load_config
from bot.agents.loop import system_prompt
from bot.agents.personas import persona_for
from bot.agents.task_agent import prompt
from bot.engine.confine import confinement_for
from bot.engine.loader import load
from bot.engine.tasks import Task
from bot.git.refs import resolve
from bot.llm.errors import LLMError
from bot.llm.types import Message, Request
from bot.stories.branch import StoryBranch
from bot.stories.compose import Means
from bot.stories.deliver import Place
from bot.stories.diff import right_lines
from bot.stories.story import Story, documents, find
from bot.templates import render

CHECK_NAME = "ao/review"
#: BMAD's code-review severities; high and medium must be fixed before the story is done.
SEVERITIES = ("high", "medium", "low")
BLOCKING = ("high", "medium")
REVIEW_WORKFLOWS = ("code-review", "bmad-code-review", "bmad-review")
#: The diff a reviewer reads is cut at this many characters.
MAX_DIFF_CHARS = 60_000
FINDINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "line": {"type": "integer"},
                    "severity": {"enum": list(SEVERITIES)},
                    "body": {"type": "string"},
                },
                "required": ["path", "line", "severity", "body"],
            },
        },
    },
    "required": ["summary", "findings"],
}


class ReviewNotMade(Exception):
    """No review could be made (the answer was not one, the model or the config refused):
    the check run says so and stays open."""


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    path: str
    line: int
    severity: str
    body: str


@dataclasses.dataclass(frozen=True, slots=True)
class Reviewed:
    key: str
    pull_number: int
    head_sha: str
    passed: bool
    review_id: int
    check_id: int
    inline: tuple[Finding, ...] = ()  # posted on lines of the diff
    moved: tuple[Finding, ...] = ()  # on lines the diff does not show: in the summary
    again: bool = False  # found from an earlier attempt, nothing posted now


def review_mark(key: str, head_sha: str) -> str:
    return f"<!-- ao:review:{key}:{head_sha} -->"


def review_external(key: str, head_sha: str) -> str:
    """The `ao/review` check run's `external_id` on a head commit: one per commit."""
    return f"review:{key}:{head_sha}"


def verdict_mark(passed: bool) -> str:
    return f"<!-- ao:verdict:{'pass' if passed else 'fail'} -->"


def findings_of(structured: object) -> tuple[str, list[Finding]]:
    """(summary, findings) from the model's structured answer; ReviewNotMade if it is not one."""
    try:
        jsonschema.validate(structured, FINDINGS_SCHEMA)
    except jsonschema.ValidationError as exc:
        raise ReviewNotMade(f"the reviewer's answer is not a review: {exc.message}") from exc
    assert isinstance(structured, Mapping)
    found = [
        Finding(str(f["path"]).lstrip("/"), int(f["line"]), str(f["severity"]), _inert(f["body"]))
        for f in structured["findings"]
    ]
    return _inert(structured["summary"]), found


def _inert(text: object) -> str:
    """The model's words, with no HTML comment: a marker in them (the model reads untrusted
    code) must never pass for the App's own, such as a verdict."""
    return str(text).replace("<!--", "<!- -")


def place_findings(
    findings: Sequence[Finding], patches: Mapping[str, str]
) -> tuple[list[Finding], list[Finding]]:
    """(inline, moved): a finding goes on the diff only where the diff shows its line."""
    inline: list[Finding] = []
    moved: list[Finding] = []
    for finding in findings:
        patch = patches.get(finding.path)
        shown = patch is not None and finding.line in right_lines(patch)
        (inline if shown else moved).append(finding)
    return inline, moved


def passes(findings: Sequence[Finding]) -> bool:
    return not any(f.severity in BLOCKING for f in findings)


async def pull_files(place: Place, pull: Mapping[str, Any]) -> dict[str, str]:
    """The pull request's files with their patches (a binary or huge file has none)."""
    url = f"{pull['url']}/files?per_page=100"
    return {f["filename"]: str(f.get("patch") or "") async for f in place.gh.getiter(url)}


async def find_check(place: Place, head_sha: str, external_id: str) -> dict[str, Any] | None:
    full = place.repository["full_name"]
    listed = await place.gh.getitem(
        f"/repos/{full}/commits/{head_sha}/check-runs?check_name={CHECK_NAME}&per_page=100"
    )
    for run in listed.get("check_runs") or []:
        if run.get("external_id") == external_id:
            return dict(run)
    return None


async def show_check(
    place: Place, head_sha: str, external_id: str, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """The `ao/review` check run on `head_sha`, created or brought up to date."""
    full = place.repository["full_name"]
    found = await find_check(place, head_sha, external_id)
    if found is not None:
        return dict(await place.gh.patch(f"/repos/{full}/check-runs/{found['id']}", data=fields))
    data = {"name": CHECK_NAME, "head_sha": head_sha, "external_id": external_id, **fields}
    return dict(await place.gh.post(f"/repos/{full}/check-runs", data=data))


async def find_review(place: Place, pull: Mapping[str, Any], mark: str) -> dict[str, Any] | None:
    """The App's review carrying `mark` (a person's text is never taken for it)."""
    async for review in place.gh.getiter(f"{pull['url']}/reviews?per_page=100"):
        if review.get("user", {}).get("login") == place.identity.name and mark in (
            review.get("body") or ""
        ):
            return dict(review)
    return None


async def review_pull(place: Place, means: Means, key: str, pull_number: int) -> Reviewed:
    """Review story `key`'s pull request at its head commit, once per head commit."""
    full = place.repository["full_name"]
    pull = await place.gh.getitem(f"/repos/{full}/pulls/{pull_number}")
    head = str(pull["head"]["sha"])
    external = review_external(key, head)
    mark = review_mark(key, head)
    earlier = await find_review(place, pull, mark)
    if earlier is not None:  # posted before a crash: the check run follows the review
        passed = verdict_mark(True) in str(earlier.get("body"))
        check = await show_check(place, head, external, _completed(passed, str(earlier["body"])))
        return Reviewed(key, pull_number, head, passed, int(earlier["id"]), int(check["id"]),
                        again=True)  # fmt: skip
    started = {"status": "in_progress", "output": {"title": "Reviewing", "summary": "…"}}
    await show_check(place, head, external, started)
    worktree = await _worktree(place, key, head)
    patches = await pull_files(place, pull)
    try:
        summary, findings, model = await _ask(place, means, worktree, key, patches)
    except (ReviewNotMade, ConfigError, FileNotFoundError, LLMError) as exc:
        # The check run stays open and says why; a retry (the wiring's) reviews again.
        why = str(exc) if isinstance(exc, ReviewNotMade) else f"{type(exc).__name__}: {exc}"
        said = {"status": "in_progress", "output": {"title": "No review yet", "summary": why}}
        await show_check(place, head, external, said)
        raise ReviewNotMade(why) from exc
    inline, moved = place_findings(findings, patches)
    passed = passes(findings)
    counts = ", ".join(
        f"{sum(1 for f in findings if f.severity == s)} {s}" for s in SEVERITIES
    )  # fmt: skip
    body = render(
        "stories/review.md.j2", story_key=key, passed=passed, summary=summary, moved=moved,
        counts=counts, head=head, model=model, mark=mark + "\n" + verdict_mark(passed),
    )  # fmt: skip
    comments = [
        {"path": f.path, "line": f.line, "side": "RIGHT",
         "body": render("stories/review_comment.md.j2", finding=f).strip()}
        for f in inline
    ]  # fmt: skip
    posted = await place.gh.post(
        f"{pull['url']}/reviews",
        data={"commit_id": head, "event": "COMMENT", "body": body, "comments": comments},
    )
    check = await show_check(place, head, external, _completed(passed, body))
    return Reviewed(key, pull_number, head, passed, int(posted["id"]), int(check["id"]),
                    tuple(inline), tuple(moved))  # fmt: skip


def _completed(passed: bool, body: str) -> dict[str, Any]:
    title = "The review passed" if passed else "The review asks for changes"
    return {
        "status": "completed",
        "conclusion": "success" if passed else "failure",
        "output": {"title": title, "summary": body[:60_000]},
    }


async def _worktree(place: Place, key: str, head: str) -> Path:
    """Where the reviewer reads the story, its documents and the config as of the head it
    reviews: the story's own worktree where development left it there (no fetch), else
    brought to GitHub's branch (a person pushed to it, another machine developed it, or the
    worktree was evicted)."""
    path = place.worktrees.path_for(key)
    if place.worktrees.ready(key) and resolve(path, "HEAD") == head:
        return path
    default = str(place.repository["default_branch"])
    branch = await StoryBranch.prepare(place.remote, place.worktrees, key, default, place.identity)
    return branch.worktree


async def _ask(
    place: Place, means: Means, worktree: Path, key: str, patches: Mapping[str, str]
) -> tuple[str, list[Finding], str]:
    """One request in a fresh context: the persona, the story, the diff; the findings."""
    config = load_config(worktree, {}, check_models=False)
    story: Story = find(worktree, key)
    project = await asyncio.to_thread(load, worktree)
    workflow = next((w for n in REVIEW_WORKFLOWS if (w := project.workflow(n))), None)
    persona = persona_for(project.agents, workflow.agent if workflow and workflow.agent else "dev")
    spec = config.agents.get("reviewer") or config.model_for(persona.id, persona.name, None)
    llm = means.llm_for(spec)
    diff = "\n".join(f"--- {path}\n{patch}" for path, patch in sorted(patches.items()))
    task = Task(
        kind="act",
        workflow=workflow.name if workflow else "code-review",
        step_id="review",
        step_goal=f"review story {story.key}: {story.title}",
        instruction=render("stories/review_task.md.j2", story=story),
        variables={"story_key": story.key, "project_name": str(place.repository["full_name"])},
        rules=tuple(i.text for i in workflow.critical) if workflow else (),
        inputs={"pull request diff": diff[:MAX_DIFF_CHARS]},
        agent=persona.id,
        documents=documents(worktree, story, confinement_for(project)),
    )
    request = Request(
        system_prompt(persona), (Message("user", prompt(task)),), stable=task.rules,
        max_tokens=8192, response_schema=FINDINGS_SCHEMA,
    )  # fmt: skip
    charge = {"workflow": task.workflow, "agent": persona.id, "story": story.key}
    completion = await llm.complete(request, charge=charge)
    summary, findings = findings_of(completion.structured)
    return summary, findings, completion.model
