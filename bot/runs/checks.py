"""A run's check run on its branch's head commit, named `ao/run`: its progress while it runs,
and at its end success or failure with a summary and buttons.

GitHub shows buttons only on a completed check run, so a finished run offers Approve (merge
its pull request) and a failed or cancelled one Retry (go on from its branch); a running one
is steered with `/ao` comments. One check run per head commit, found again by the run's id
(`external_id`) before one is created, so a retry never adds a second.
"""

from __future__ import annotations

from typing import Any

from gidgethub.abc import GitHubAPI

from bot.runs.publish import RunView
from bot.templates import render

CHECK_NAME = "ao/run"
#: GitHub's limits: label ≤ 20 characters, description ≤ 40, identifier ≤ 20.
APPROVE = {"label": "Approve", "description": "Merge this run's pull request",
           "identifier": "approve"}  # fmt: skip
RETRY = {"label": "Retry", "description": "Go on from the run's branch", "identifier": "retry"}
_CONCLUSIONS = {"done": "success", "failed": "failure", "cancelled": "cancelled",
                "paused": "action_required"}  # fmt: skip


def check_fields(view: RunView, *, merged: bool = False, later: str = "") -> dict[str, Any]:
    """The check run's status, conclusion, output and buttons for where the run stands; on a
    commit the run has gone on from (`later`: the commit it is at now), its step is done."""
    if later:
        title = render("runs/check_title.txt.j2", run=view, later=later).strip()
        summary = render("runs/check_later.md.j2", run=view, later=later)
        return {"status": "completed", "conclusion": "success",
                "output": {"title": title[:255], "summary": summary}}  # fmt: skip
    title = render("runs/check_title.txt.j2", run=view, later="").strip()
    output = {"title": title[:255], "summary": render("runs/check.md.j2", run=view)}
    conclusion = _CONCLUSIONS.get(view.state)
    if conclusion is None:  # queued or running
        return {"status": "in_progress", "output": output}
    fields: dict[str, Any] = {"status": "completed", "conclusion": conclusion, "output": output}
    if view.state == "done" and view.pull_url and not merged:
        fields["actions"] = [APPROVE]
    elif view.state in ("failed", "cancelled"):
        fields["actions"] = [RETRY]
    return fields


async def show_check(
    gh: GitHubAPI,
    repository: str,
    head_sha: str,
    view: RunView,
    *,
    merged: bool = False,
    later: str = "",
) -> dict[str, Any]:
    """The run's check run on `head_sha`, created or brought up to date."""
    fields = check_fields(view, merged=merged, later=later)
    listed = await gh.getitem(
        f"/repos/{repository}/commits/{head_sha}/check-runs?check_name={CHECK_NAME}&per_page=100"
    )
    for run in listed.get("check_runs") or []:
        if run.get("external_id") == view.run_id:
            return dict(await gh.patch(f"/repos/{repository}/check-runs/{run['id']}",
                                       data=fields))  # fmt: skip
    data = {"name": CHECK_NAME, "head_sha": head_sha, "external_id": view.run_id, **fields}
    return dict(await gh.post(f"/repos/{repository}/check-runs", data=data))
