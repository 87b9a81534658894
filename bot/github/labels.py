"""The label set that shows a story's status on GitHub, created where it is missing.

A label a person already has (even recoloured or re-described) is left exactly as it is.
"""

from __future__ import annotations

import dataclasses
import http

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI


@dataclasses.dataclass(frozen=True, slots=True)
class Label:
    name: str
    color: str
    description: str


STORY_LABELS = (
    Label("story: backlog", "c5def5", "Agent Orchestrator: not yet ready for development"),
    Label("story: ready-for-dev", "0e8a16", "Agent Orchestrator: ready for the developer agent"),
    Label("story: in-progress", "fbca04", "Agent Orchestrator: being developed"),
    Label("story: review", "1d76db", "Agent Orchestrator: in code review"),
    Label("story: done", "5319e7", "Agent Orchestrator: done"),
    Label("story: blocked", "b60205", "Agent Orchestrator: blocked, needs a person"),
    Label("escalation", "d93f0b", "Agent Orchestrator: a question for a person"),
)


async def ensure_labels(
    gh: GitHubAPI, full_name: str, labels: tuple[Label, ...] = STORY_LABELS
) -> list[str]:
    """Create the labels the repository lacks; return the names created."""
    owner, repo = full_name.split("/", 1)
    where = {"owner": owner, "repo": repo}
    existing = {
        str(label["name"]).lower()
        async for label in gh.getiter("/repos/{owner}/{repo}/labels", where)
    }
    created = []
    for label in labels:
        if label.name.lower() in existing:
            continue
        try:
            await gh.post(
                "/repos/{owner}/{repo}/labels",
                where,
                data={"name": label.name, "color": label.color, "description": label.description},
            )
        except BadRequest as exc:
            if exc.status_code != http.HTTPStatus.UNPROCESSABLE_ENTITY:  # 422: someone was faster
                raise
            continue
        created.append(label.name)
    return created
