"""The demo's flows: each as a person does it on the local GitHub, over its HTTP routes, and as
they then see it. They grow with the product."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.demo.people import DemoFailed, Person, until
from bot.demo.stage import MAINTAINER, READER, Stage
from bot.github.labels import STORY_LABELS
from bot.project.status_issue import TITLE as STATUS_TITLE
from bot.runs.github_home import RUNS_FOLDER, state_folder

Say = Callable[[str], None]
#: How long the bot may take to answer a command before the demo says it did not.
ANSWER_LIMIT_S = 30.0
#: How long a planning run may take, step by step.
RUN_LIMIT_S = 240.0


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("<!--")]


async def _bot_comments(stage: Stage, person: Person, number: int) -> list[dict[str, Any]]:
    login = stage.app.bot.login
    return [c for c in await person.comments(number) if c["user"]["login"] == login]


async def _answer(stage: Stage, person: Person, number: int, count: int) -> dict[str, Any]:
    """The bot's `count`-th comment on the issue, once it is there."""

    async def look() -> dict[str, Any] | None:
        comments = await _bot_comments(stage, person, number)
        return comments[count - 1] if len(comments) >= count else None

    return await until(f"the bot's answer #{count} on #{number}", look, ANSWER_LIMIT_S)


async def commands(stage: Stage, say: Say) -> int:
    """Installing the App, `/ao help` and `/ao ping`, and who may use them; the issue's number."""
    mona, riley = stage.people[MAINTAINER], stage.people[READER]
    say(f"1. @{MAINTAINER} installs the App on {stage.repository.full_name}")
    await mona.install(stage.sim.url, stage.app.slug)
    wanted = {label.name for label in STORY_LABELS}

    async def labels() -> list[str] | None:
        have = {label["name"] for label in await mona.all(mona.repo("/labels"))}
        return sorted(wanted) if wanted <= have else None

    created = await until("the story labels", labels, ANSWER_LIMIT_S)
    say(f"   → {len(created)} labels created by {stage.app.bot.login}: {', '.join(created)}")

    say(f'2. @{MAINTAINER} opens an issue "Plan the first release" and comments `/ao help`')
    issue = await mona.open_issue(
        "Plan the first release",
        "The brief is in docs/brief.md. What can the orchestrator do for us?",
    )
    number = issue["number"]
    asked = await mona.comment(number, "/ao help")
    help_text = await _answer(stage, mona, number, 1)
    seen = await mona.call("GET", mona.repo(f"/issues/comments/{asked['id']}"))
    reactions = {k: v for k, v in (seen.get("reactions") or {}).items() if isinstance(v, int)}
    shown = [f"{name} x{n}" for name, n in reactions.items() if n and name != "total_count"]
    say(f"   → on her comment: {', '.join(shown) or 'no reaction'}")
    say(f"   → {stage.app.bot.login} answered:")
    for line in _lines(help_text["body"]):
        say(f"       {line}")

    say(f"3. @{MAINTAINER} comments `/ao ping`")
    await mona.comment(number, "/ao ping")
    say(f"   → {_lines((await _answer(stage, mona, number, 2))['body'])[0]}")

    say(f"4. @{READER}, who can only read the repository, comments `/ao help`")
    await riley.comment(number, "/ao help")
    say(f"   → {_lines((await _answer(stage, mona, number, 3))['body'])[0]}")
    return int(number)


async def forged(stage: Stage, say: Say) -> None:
    say("5. Someone posts a webhook with a forged signature to the orchestrator")
    body = json.dumps({"action": "created", "comment": {"body": "/ao help"}}).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{stage.bot_url}/webhooks",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "issue_comment",
                "X-GitHub-Delivery": "forged-delivery",
                "X-Hub-Signature-256": "sha256=" + "0" * 64,
            },
        ) as response,
    ):
        answer = await response.json()
    say(f"   → {response.status}: {answer.get('error', answer)}; nothing changed on GitHub")


async def _watch(stage: Stage, person: Person, number: int, say: Say) -> Callable[[], Any]:
    """A function that prints what changed in the bot's comments on the issue since it last
    looked (the plan comment's head, each run's status line), and returns the comments."""
    seen: dict[int, str] = {}

    async def look() -> list[dict[str, Any]]:
        comments = await _bot_comments(stage, person, number)
        for comment in comments:
            body = comment["body"]
            if "ao:run:" not in body and "ao:plan:" not in body:
                continue
            head = _lines(body)[0].replace("**", "")
            if seen.get(comment["id"]) != head:
                seen[comment["id"]] = head
                say(f"   → {'plan comment' if 'ao:plan:' in body else 'status comment'}: {head}")
        return comments

    return look


def _plan_comment(comments: list[dict[str, Any]]) -> str:
    return next((c["body"] for c in comments if "ao:plan:" in c["body"]), "")


async def planning(stage: Stage, say: Say) -> int:
    """`/ao start plan` on an idea issue: the planning chain, run after run, through a person's
    approval of the requirements to the sprint; the idea issue's number."""
    mona = stage.people[MAINTAINER]
    say(f"6. @{MAINTAINER} opens an issue with the idea and comments `/ao start plan`")
    say(f"   (the agents' model: {stage.model.described})")
    issue = await mona.open_issue(
        "A to-do list for the terminal",
        "todo-app is a command-line to-do list for developers who live in the terminal: "
        "`todo add`, `todo done N`, `todo list`, one plain-text list per directory. "
        "Plan its first release from docs/brief.md.",
    )
    number = int(issue["number"])
    await mona.comment(number, "/ao start plan")
    look = await _watch(stage, mona, number, say)

    async def waiting() -> str | None:
        plan = _plan_comment(await look())
        return plan if "waiting for a person" in plan or "failed" in plan else None

    plan = await until("the requirements' pull request", waiting, RUN_LIMIT_S, every_s=0.2)
    if "waiting for a person" not in plan:
        raise DemoFailed(f"the plan stopped: {_lines(plan)[0]}")
    [prd] = await mona.call(
        "GET", mona.repo(f"/pulls?state=open&head=demo-org:ao/{number}-create-prd")
    )
    await show_pull(stage, prd, say)

    say(f"7. @{MAINTAINER} reads it and comments `/ao approve`: the later phases merge themselves")
    await mona.comment(number, "/ao approve")
    await question(stage, say, look)

    async def done() -> str | None:
        plan = _plan_comment(await look())
        return plan if "✅ done" in plan or "failed" in plan else None

    plan = await until("the end of the plan", done, RUN_LIMIT_S, every_s=0.2)
    if "✅ done" not in plan:
        raise DemoFailed(f"the plan stopped: {_lines(plan)[0]}")
    pulls = await mona.all(mona.repo("/pulls?state=closed"))
    for pull in sorted(pulls, key=lambda p: p["number"]):
        full = await mona.call("GET", mona.repo(f"/pulls/{pull['number']}"))
        by = (full.get("merged_by") or {}).get("login", "nobody")
        say(f"   → #{pull['number']} {pull['head']['ref']} merged by {by}")
    listed = await mona.call("GET", mona.repo("/contents/docs?ref=main"))
    documents = [f"docs/{entry['name']}" for entry in listed if entry["type"] == "file"]
    say(f"   → on main: {', '.join(documents)}")
    status = await mona.file("docs/sprint/sprint-status.yaml", "main") or ""
    stories = [line.split(":")[0].strip() for line in status.splitlines() if line.startswith("  ")]
    say(f"   → docs/sprint/sprint-status.yaml: {', '.join(stories)}")
    architecture = await mona.file("docs/architecture.md", "main") or ""
    decided = next((line for line in architecture.splitlines() if "As decided" in line), "")
    log = await mona.file(f"{RUNS_FOLDER}/{number}-create-architecture/decisions.md", "main") or ""
    row = next((line for line in log.splitlines() if "@mona" in line), "")
    cells = [cell.strip() for cell in row.strip("| ").split(" | ")]
    say(f"   → docs/architecture.md: {decided or 'no decision written'}")
    if len(cells) >= 4:
        say(f"   → its decision log: {cells[0]}: {cells[2]}, {cells[3]}")
    else:
        say("   → its decision log: no decision by @mona")
    return number


async def question(stage: Stage, say: Say, look: Callable[[], Any]) -> None:
    """The architecture's step asks where the list lives: a question for a person, as an
    issue assigned to @mona; she answers it with `/ao answer`, and the run goes on with it."""
    mona = stage.people[MAINTAINER]
    bot = stage.app.bot.login

    async def asked() -> dict[str, Any] | None:
        await look()  # the plan's and the runs' comments, as they change
        issues = await mona.all(
            mona.repo(f"/issues?state=open&labels=escalation&creator={quote(bot)}")
        )
        # (assigned just after it is opened: shown once it is)
        return issues[0] if issues and issues[0].get("assignees") else None

    issue = await until("the architect's question", asked, RUN_LIMIT_S, every_s=0.2)
    assignees = ", ".join(f"@{a['login']}" for a in issue.get("assignees") or [])
    say(f'   → #{issue["number"]} "{issue["title"]}" by {bot}, assigned to {assignees}:')
    for line in (issue.get("body") or "").splitlines():
        if line.lstrip().startswith(("1. ", "2. ")):
            say(f"       {line.strip()}")
    say(f"   @{MAINTAINER} comments `/ao answer 1` on #{issue['number']}")
    await mona.comment(issue["number"], "/ao answer 1")

    async def closed() -> dict[str, Any] | None:
        await look()
        now = await mona.call("GET", mona.repo(f"/issues/{issue['number']}"))
        return now if now["state"] == "closed" else None

    try:
        await until("the question closed with her answer", closed, ANSWER_LIMIT_S)
    except DemoFailed as exc:
        said = [c["body"] for c in await _bot_comments(stage, mona, issue["number"])]
        raise DemoFailed(f"{exc}; the bot said: {' | '.join(said) or 'nothing'}") from None
    said = [c["body"] for c in await _bot_comments(stage, mona, issue["number"])]
    ack = next((b for b in said if "Answer recorded" in b), "")
    say(f"   → {_lines(ack)[0] if ack else 'answered'}; #{issue['number']} closed, the run goes on")


async def board(stage: Stage, say: Say) -> None:
    """Once the sprint's status is on the default branch: an issue per story with its status
    label, and the pinned status issue, as @mona finds them in the issue list."""
    mona = stage.people[MAINTAINER]
    bot = stage.app.bot.login

    async def made() -> list[dict[str, Any]] | None:
        issues = await mona.all(mona.repo(f"/issues?state=all&creator={quote(bot)}"))
        stories = [i for i in issues if _story(i)]
        status = [i for i in issues if i["title"] == STATUS_TITLE]
        return issues if len(stories) >= 4 and status else None

    found = await until("the story issues and the status issue", made, RUN_LIMIT_S)
    issues = [  # the list holds pull requests and the run's question too
        i for i in found if ("pull_request" not in i and i["title"] == STATUS_TITLE) or _story(i)
    ]
    say(f"8. the sprint on the default branch becomes issues, made by {bot}:")
    for issue in sorted(issues, key=lambda i: i["number"]):
        labels = ", ".join(lb["name"] for lb in issue["labels"])
        say(f"   → #{issue['number']} {issue['title']}" + (f" [{labels}]" if labels else ""))
    status = next(i for i in issues if i["title"] == STATUS_TITLE)
    body = status.get("body") or ""
    progress = next((line for line in body.splitlines() if "Progress" in line), "")
    say(f"   → #{status['number']} is pinned and kept current: {progress.replace('**', '')}")


def _story(issue: dict[str, Any]) -> bool:
    return any(label["name"].startswith("story: ") for label in issue["labels"])


async def show_pull(stage: Stage, pull: dict[str, Any], say: Say) -> None:
    """A pull request as its reader sees it: who opened it, its commits, files, document and
    decision log."""
    mona = stage.people[MAINTAINER]
    branch = pull["head"]["ref"]
    say(f'   → pull request #{pull["number"]} "{pull["title"]}" by {pull["user"]["login"]}: '
        f"{branch} → {pull['base']['ref']}")  # fmt: skip
    commits = await mona.all(mona.repo(f"/pulls/{pull['number']}/commits"))
    for commit in commits:
        say(f"       commit {commit['sha'][:7]} {commit['commit']['message'].splitlines()[0]}")
    files = await mona.all(mona.repo(f"/pulls/{pull['number']}/files"))
    say(f"     files: {', '.join(f['filename'] for f in files)}")
    document = next((f["filename"] for f in files if f["filename"].startswith("docs/")), None)
    if document is not None:
        text = await mona.file(document, branch) or ""
        headings = [line for line in text.splitlines() if line.startswith("#")]
        say(f"     {document}: {len(text.splitlines())} lines; " + "; ".join(headings[:4]))
    log = await mona.file(f"{state_folder(branch)}/decisions.md", branch) or ""
    decisions = [line for line in log.splitlines() if line.startswith("|") and "---" not in line]
    say(f"     decision log: {max(0, len(decisions) - 1)} decisions, e.g.")
    for line in decisions[1:3]:
        say("       " + " ".join(line.split())[:110])


async def anonymous_clone(stage: Stage, say: Say) -> None:
    """The repository is public: anyone reads it over HTTP with plain git, no token."""
    from githubsim.git_store import GitError, run_git

    try:
        _, out = await run_git("ls-remote", stage.clone_url)
    except GitError as exc:
        raise DemoFailed(f"an anonymous git ls-remote failed: {exc}") from exc
    refs = [line.split("\t")[1] for line in out.decode().splitlines() if "\t" in line]
    say(f"13. anyone reads the public repository with git → {', '.join(refs)}")
