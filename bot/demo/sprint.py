"""The demo's sprint: a person moves the first story to ready-for-dev; it ends as a pull
request whose tests pass, reviewed by the App, approved by her and merged; its dependants
start by themselves and end the same way, until every story is done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from bot.demo.people import DemoFailed, Person, until
from bot.demo.stage import MAINTAINER, Stage
from bot.project.status_issue import TITLE as STATUS_TITLE

Say = Callable[[str], None]
#: How long a story may take from its label to a reviewed pull request.
STORY_LIMIT_S = 180.0
#: How long a merge and what follows it (the story done, its issue closed) may take.
MERGE_LIMIT_S = 60.0
FIRST = "1-1-add-an-item"
FOLLOWING = ("1-2-mark-an-item-done", "1-3-list-open-items")
STATUS_PATH = "docs/sprint/sprint-status.yaml"


def _label(issue: dict[str, Any]) -> str:
    return next((lb["name"] for lb in issue["labels"] if lb["name"].startswith("story: ")), "")


async def _story_issue(person: Person, bot: str, key: str) -> dict[str, Any]:
    prefix = "-".join(key.split("-")[:2])  # the issue's title: `1-2 Mark an item done`
    issues = await person.all(person.repo(f"/issues?state=all&creator={quote(bot)}"))
    for issue in issues:
        if (
            "pull_request" not in issue
            and issue["title"].startswith(f"{prefix} ")
            and _label(issue)
        ):
            return issue
    raise DemoFailed(f"no issue for story {key}")


async def _reviewed(person: Person, key: str, ci: bool) -> dict[str, Any] | None:
    """The story's pull request once it is ready, reviewed by the App and (`ci`: the
    repository has CI) its CI finished."""
    owner = quote(person.repository.split("/")[0])
    pulls = await person.call("GET", person.repo(f"/pulls?state=open&head={owner}:story/{key}"))
    if not pulls or pulls[0]["draft"]:
        return None
    pull = pulls[0]
    runs = (await person.call("GET", person.repo(f"/commits/{pull['head']['sha']}/check-runs")))[
        "check_runs"
    ]
    names = {run["name"]: run for run in runs}
    review = names.get("ao/review")
    if review is None or (ci and "ci" not in names):
        return None
    if any(run["status"] != "completed" for run in runs):
        return None
    return {**pull, "check_runs": runs}


async def show_story_pull(stage: Stage, pull: dict[str, Any], say: Say) -> None:
    mona = stage.people[MAINTAINER]
    number = pull["number"]
    say(f'   → pull request #{number} "{pull["title"]}" by {pull["user"]["login"]}, '
        f"{pull['head']['ref']} → {pull['base']['ref']}, ready for review")  # fmt: skip
    for commit in await mona.all(mona.repo(f"/pulls/{number}/commits")):
        say(f"       commit {commit['sha'][:7]} {commit['commit']['message'].splitlines()[0]}")
    files = await mona.all(mona.repo(f"/pulls/{number}/files"))
    say(f"     files: {', '.join(f['filename'] for f in files)}")
    body = pull.get("body") or ""
    tests = next((line for line in body.splitlines() if "in the sandbox" in line), "")
    if tests:
        say(f"     {tests.replace('**', '')}")
    checks = ", ".join(
        f"{run['name']} {run['conclusion']}"
        for run in sorted(pull["check_runs"], key=lambda r: r["name"])
    )
    say(f"     checks on its head: {checks}")
    reviews = await mona.all(mona.repo(f"/pulls/{number}/reviews"))
    bot = stage.app.bot.login
    for review in (r for r in reviews if r["user"]["login"] == bot):
        first = next((line for line in (review.get("body") or "").splitlines() if line.strip()), "")
        say(f"     {bot} reviewed ({review['state']}): {first.replace('**', '')[:110]}")
    comments = await mona.all(mona.repo(f"/pulls/{number}/comments"))
    for comment in (c for c in comments if c["user"]["login"] == bot):
        say(f"       on {comment['path']}:{comment.get('line')}: {comment['body'][:90]}")


async def _approve_and_merge(stage: Stage, key: str, say: Say) -> None:
    mona = stage.people[MAINTAINER]
    pull = await until(
        f"story {key}'s reviewed pull request",
        lambda: _reviewed(mona, key, stage.model.scripted), STORY_LIMIT_S, every_s=0.3,
    )  # fmt: skip
    await show_story_pull(stage, pull, say)
    say(f"   @{MAINTAINER} approves #{pull['number']}")
    await mona.call(
        "POST", mona.repo(f"/pulls/{pull['number']}/reviews"),
        {"event": "APPROVE", "body": "Looks right to me."},
    )  # fmt: skip

    async def merged() -> dict[str, Any] | None:
        now = await mona.call("GET", mona.repo(f"/pulls/{pull['number']}"))
        return now if now.get("merged") else None

    done = await until(f"#{pull['number']} merged", merged, MERGE_LIMIT_S)
    by = (done.get("merged_by") or {}).get("login", "nobody")
    issue = await _story_issue(mona, stage.app.bot.login, key)

    async def closed() -> dict[str, Any] | None:
        now = await mona.call("GET", mona.repo(f"/issues/{issue['number']}"))
        return now if now["state"] == "closed" and _label(now) == "story: done" else None

    final = await until(f"story {key}'s issue closed as done", closed, MERGE_LIMIT_S)
    say(f"   → #{pull['number']} merged by {by}; #{final['number']} {final['title']} closed "
        f"[{_label(final)}]")  # fmt: skip


async def sprint(stage: Stage, say: Say) -> None:
    """Steps 10 to 12: the sprint, story by story, as @mona sees and steers it."""
    mona = stage.people[MAINTAINER]
    bot = stage.app.bot.login
    if stage.isolation is not None:
        say(f"   (the stories' tests run without isolation: {stage.isolation}; the code is the "
            "demo's own, scripted)")  # fmt: skip
    first = await _story_issue(mona, bot, FIRST)
    say(f"10. @{MAINTAINER} moves #{first['number']} {first['title']} to ready-for-dev "
        "(its label); the developer takes it")  # fmt: skip
    await mona.call("DELETE", mona.repo(f"/issues/{first['number']}/labels/"
                                        f"{quote(_label(first), safe='')}"))  # fmt: skip
    await mona.call(
        "POST", mona.repo(f"/issues/{first['number']}/labels"),
        {"labels": ["story: ready-for-dev"]},
    )  # fmt: skip
    say("   (the demo's developer edits are scripted per story; the first attempt has a bug "
        "its tests catch)")  # fmt: skip
    await _approve_and_merge(stage, FIRST, say)

    say(f"11. both stories that depend on {FIRST} start by themselves, side by side")
    for key in FOLLOWING:
        await _approve_and_merge(stage, key, say)

    async def all_done() -> str | None:
        text = await mona.file(STATUS_PATH, "main") or ""
        lines = [line.strip() for line in text.splitlines() if line.startswith("  ")]
        stories = [line for line in lines if line[:1].isdigit()]
        return text if stories and all(line.endswith(": done") for line in stories) else None

    text = await until("every story done on main", all_done, MERGE_LIMIT_S)
    stories = [line.strip() for line in text.splitlines() if line.startswith("  ")]
    say(f"12. the sprint is done: {STATUS_PATH} on main says {', '.join(stories[:5])}")

    async def current() -> str | None:  # the pinned issue catches up (its edits are debounced)
        issues = await mona.all(mona.repo(f"/issues?state=all&creator={quote(bot)}"))
        status = next((i for i in issues if i["title"] == STATUS_TITLE), None)
        body = (status or {}).get("body") or ""
        line = next((x for x in body.splitlines() if "Progress" in x), "")
        count = 1 + len(FOLLOWING)
        done = f"{count} of {count} stories done" in line
        return f"#{status['number']} {line.replace('**', '')}" if status and done else None

    say(f"   → {await until('the status issue current', current, MERGE_LIMIT_S)}")
