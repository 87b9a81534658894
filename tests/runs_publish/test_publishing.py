"""What a run shows people on GitHub: one status comment kept up to date, one pull request
however often it is asked for, and texts that read well (checked as a person would read them)."""

from __future__ import annotations

from bot.github.publishing import edit_comment, find_or_open_pull
from bot.runs.publish import (
    RunView,
    commit_message,
    decision_log,
    pull_request,
    status_comment,
    status_mark,
)
from tests.support import APP_ID

DECISIONS = [
    {"point": "menu", "outcome": "choose", "value": "C", "reason": "[C] carries the workflow on",
     "by": "policy", "step": "create-prd:step-02", "question": "Select an option"},
    {"point": "ask", "outcome": "answer", "value": "PostgreSQL", "reason": "answered by a person",
     "by": "person", "step": "create-prd:step-03", "question": "Which | database?"},
]  # fmt: skip
ANSWERS = [
    {"question": "Who are the users?", "answer": "Teams of 3-10", "confidence": 0.95,
     "source": "onboarding", "reasoning": "FAQ", "cited": "docs/onboarding.md:12"},
    {"question": "Which cloud?", "answer": "AWS", "confidence": 0.62, "source": "model",
     "reasoning": "the brief mentions S3", "escalated": True},
]  # fmt: skip


def view(**changes) -> RunView:
    base = RunView("r1", "create-prd", "running", 7, "mona", step=3, steps=11,
                   goal="Discover the users", persona="John (pm)", cost_usd=0.4213,
                   budget_usd=5.0, branch="ao/7-create-prd",
                   branch_url="http://gh/o/r/tree/ao/7-create-prd")  # fmt: skip
    return RunView(**{**base.__dict__, **changes})


def test_the_status_comment_says_where_the_run_stands():
    text = status_comment(view())
    assert text.startswith("**create-prd** · ▶️ running · step 3 of 11")
    assert "> Discover the users — John (pm) at work" in text
    assert "| cost | $0.4213 of $5.00 |" in text
    assert "[`ao/7-create-prd`](http://gh/o/r/tree/ao/7-create-prd)" in text
    assert text.endswith(status_mark("r1"))
    paused = status_comment(view(state="paused", question="Which database?"))
    assert "⏸️ paused: waiting for a person" in paused and "Which database?" in paused
    done = status_comment(view(state="done", pull_url="http://gh/o/r/pull/8", goal=""))
    assert "| pull request | http://gh/o/r/pull/8 |" in done and "at work" not in done


def test_commits_decisions_and_the_pull_request_read_well():
    assert commit_message("create-prd", 3, "Discover\n the  users") == (
        "create-prd: step 3 — Discover the users"
    )
    assert len(commit_message("w", 1, "x" * 300)) == 100
    log = decision_log("create-prd", DECISIONS, ANSWERS)
    assert "| create-prd:step-02 | Select an option | C | policy | [C] carries" in log
    assert "| Which \\| database? | PostgreSQL | a person |" in log  # a pipe cannot break the table
    assert "| Teams of 3-10 | onboarding document docs/onboarding.md:12 |" in log
    assert "| AWS | model, confidence 0.62 → asked a person |" in log
    title, body = pull_request(
        view(state="done"), outputs=["_bmad-output/prd.md"], steps_done=["step 1", "step 2"],
        decisions=DECISIONS, answers=ANSWERS, log_path="_bmad-output/ao-runs/7/decisions.md",
    )  # fmt: skip
    assert title == "create-prd: _bmad-output/prd.md"
    assert "started by @mona in #7 is done" in body and "- `_bmad-output/prd.md`" in body
    assert "**Steps** (2)" in body and "(also in `_bmad-output/ao-runs/7/decisions.md`)" in body
    assert "$0.4213 of a $5.00 budget" in body and "<!-- ao:pull:r1 -->" in body


async def test_the_status_comment_is_edited_never_posted_again(hub):
    installation = hub.sim.install(hub.app, [hub.repository], by="octo-org")
    issue = hub.sim.open_issue(hub.repository, by="maya", title="Plan the todo app")
    gh = await hub.clients.installation(installation.id)
    comments_url = f"/repos/{hub.repository.full_name}/issues/{issue.number}/comments"
    # Someone types the marker: it is not the App's comment and is never edited.
    hub.sim.comment(hub.repository, issue.number, by="maya", body=f"look {status_mark('r1')}")
    mark = status_mark("r1")
    assert await edit_comment(gh, comments_url, mark, "early", APP_ID) is None  # none to edit
    await gh.post(comments_url, data={"body": status_comment(view(state="queued"))})  # the answer
    for state in ("running", "running", "done"):
        await edit_comment(gh, comments_url, mark, status_comment(view(state=state)), APP_ID)
    [ours] = hub.bot_comments(issue.number)
    assert "✅ done" in ours
    edits = [c for c in hub.sim.calls if c[0] == "PATCH"]
    assert len(edits) == 2  # an unchanged text is not sent again


async def test_one_pull_request_however_often_it_is_asked_for(hub):
    installation = hub.sim.install(hub.app, [hub.repository], by="octo-org")
    await hub.sim.push(hub.repository, by="maya", files={"README.md": "hi\n"}, message="First")
    await hub.sim.push(hub.repository, by="maya", files={"docs/prd.md": "# PRD\n"},
                       message="PRD", branch="ao/7-create-prd")  # fmt: skip
    gh = await hub.clients.installation(installation.id)
    repository = await gh.getitem(f"/repos/{hub.repository.full_name}")
    opened = [
        await find_or_open_pull(gh, repository, head="ao/7-create-prd", base="main",
                                title="create-prd: docs/prd.md", body="the PRD")
        for _ in range(3)
    ]  # fmt: skip
    assert [was_new for _, was_new in opened] == [True, False, False]
    assert len({pull["number"] for pull, _ in opened}) == 1
    assert opened[0][0]["user"]["login"] == "agent-orchestrator[bot]"
