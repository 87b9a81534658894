"""The web view under `/_sim/`: repositories, issues, pull requests with their diff, reviews,
threads and check runs, and plain HTML forms to act as a chosen person.

Every form carries the server's CSRF token and every POST must return it (and come from this
server's own origin when the browser says where it comes from): another page cannot act as
@mona and spend the operator's model budget.
"""

from __future__ import annotations

import hmac
import secrets
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from githubsim import git_objects as objects
from githubsim.model import Issue, Repository

if TYPE_CHECKING:
    from githubsim.checks import CheckRun
    from githubsim.server import GitHubSim
    from githubsim.web_api import PeopleHttp

PREFIX = "/_sim"
#: What each form's `action` field does (the same actions as the JSON people API).
FORM_ACTIONS = {
    "comment": "issues/{number}/comments",
    "label": "issues/{number}/labels",
    "open_issue": "issues",
    "review": "pulls/{number}/reviews",
    "merge": "pulls/{number}/merge",
    "press": "check-runs/{number}/press",
}


def page(title: str, body: str) -> web.Response:
    html = (
        f"<!doctype html><meta charset=utf-8><title>{escape(title)}</title>"
        f'<p><a href="{PREFIX}/">Local GitHub</a></p><h1>{escape(title)}</h1>{body}'
    )
    return web.Response(text=html, content_type="text/html")


class WebView:
    def __init__(self, sim: GitHubSim, people: PeopleHttp) -> None:
        self.sim, self.people = sim, people
        self.csrf = secrets.token_urlsafe(24)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PREFIX + "/", self.index)
        app.router.add_get(PREFIX + "/{owner}/{repo}", self.repository)
        app.router.add_get(PREFIX + "/{owner}/{repo}/issues/{number}", self.issue)
        app.router.add_get(PREFIX + "/{owner}/{repo}/pull/{number}", self.pull)
        app.router.add_get(PREFIX + "/{owner}/{repo}/runs/{id}", self.check_run)
        app.router.add_get(PREFIX + "/{owner}/{repo}/commit/{sha}", self.commit)
        app.router.add_post(PREFIX + "/{owner}/{repo}/act", self.act)

    def _repo(self, request: web.Request) -> Repository:
        found = self.sim.state.repository(request.match_info["owner"], request.match_info["repo"])
        if found is None:
            raise web.HTTPNotFound()
        return found

    def form(
        self, repository: Repository, action: str, fields: str, button: str, **hidden: Any
    ) -> str:
        people = sorted(u.login for u in self.sim.state.users.values() if u.type == "User")
        options = "".join(f"<option value={escape(p, quote=True)}>" for p in people)
        extra = "".join(
            f'<input type=hidden name={k} value="{escape(str(v), quote=True)}">'
            for k, v in hidden.items()
        )
        return (
            f'<form method=post action="{PREFIX}/{escape(repository.full_name)}/act">'
            f'<input type=hidden name=csrf value="{self.csrf}">'
            f"<input type=hidden name=action value={action}>{extra}"
            "as <input name=as list=people required placeholder=mona>"
            f"<datalist id=people>{options}</datalist> "
            f"{fields} <button>{escape(button)}</button></form>"
        )

    # Pages -----------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        rows = [
            f'<li><a href="{PREFIX}/{escape(r.full_name)}">{escape(r.full_name)}</a></li>'
            for r in self.sim.state.repositories.values()
        ]
        return page("Local GitHub", f"<ul>{''.join(rows)}</ul>")

    async def repository(self, request: web.Request) -> web.Response:
        repository = self._repo(request)
        refs = await self.sim.git.refs(repository)
        branches = ", ".join(
            escape(r.removeprefix("refs/heads/")) for r in refs if r.startswith("refs/heads/")
        )
        items = []
        for issue in repository.issues.values():
            kind = "pull" if issue.pull else "issues"
            href = f"{PREFIX}/{repository.full_name}/{kind}/{issue.number}"
            items.append(
                f'<li><a href="{escape(href)}">#{issue.number} {escape(issue.title)}</a> '
                f"({issue.state}, {kind})</li>"
            )
        body = (
            f"<p><code>git clone {escape(self.sim.url)}/{escape(repository.full_name)}.git"
            "</code></p>"
            f"<p>branches: {branches or 'none yet'}</p><ul>{''.join(items)}</ul>"
            + self.form(
                repository,
                "open_issue",
                "<input name=title required placeholder=title> <textarea name=body></textarea>",
                "Open an issue",
            )
        )
        return page(repository.full_name, body)

    def _conversation(self, repository: Repository, issue: Issue) -> str:
        labels = ", ".join(escape(repository.labels[i].name) for i in issue.labels)
        parts = [
            f"<p>{issue.state} · opened by {escape(issue.user.login)} · "
            f"labels: {labels or 'none'}</p>"
            f"<pre>{escape(issue.body or '')}</pre>"
        ]
        for comment in self.sim.comments_on(repository, issue.number):
            reactions = " ".join(r.content for r in comment.reactions)
            parts.append(
                f"<hr><p><b>{escape(comment.user.login)}</b> {reactions}</p>"
                f"<pre>{escape(comment.body)}</pre>"
            )
        parts.append(
            self.form(
                repository,
                "comment",
                "<textarea name=body required></textarea>",
                "Comment",
                number=issue.number,
            )
        )
        parts.append(
            self.form(
                repository,
                "label",
                "<input name=name required placeholder=label>",
                "Add label",
                number=issue.number,
            )
        )
        return "".join(parts)

    def _issue(self, request: web.Request) -> tuple[Repository, Issue]:
        repository = self._repo(request)
        number = request.match_info["number"]
        issue = repository.issues.get(int(number)) if number.isdigit() else None
        if issue is None:
            raise web.HTTPNotFound()
        return repository, issue

    async def issue(self, request: web.Request) -> web.Response:
        repository, issue = self._issue(request)
        return page(
            f"{repository.full_name}#{issue.number}: {issue.title}",
            self._conversation(repository, issue),
        )

    async def pull(self, request: web.Request) -> web.Response:
        repository, issue = self._issue(request)
        pull = issue.pull
        if pull is None:
            raise web.HTTPNotFound()
        state = "merged" if pull.merged_at else issue.state
        parts = [
            f"<p>{state} · {escape(pull.head_ref)} → {escape(pull.base_ref)} · "
            f"mergeable: {pull.mergeable}</p>"
        ]
        base = await self.sim.pulls.merge_base(repository, pull)
        for change in await objects.changes(self.sim.git, repository, base, pull.head_sha):
            parts.append(
                f"<h3>{escape(change.filename)} ({change.status})</h3>"
                f"<pre>{escape(change.patch)}</pre>"
            )
        for review in pull.reviews:
            parts.append(
                f"<p>review by <b>{escape(review.user.login)}</b>: {review.state}</p>"
                f"<pre>{escape(review.body)}</pre>"
            )
        for comment in pull.review_comments:
            reply = f" (reply to {comment.in_reply_to})" if comment.in_reply_to else ""
            parts.append(
                f"<p><b>{escape(comment.user.login)}</b> on "
                f"{escape(comment.path)}:{comment.line}{reply}"
                f"{' · resolved' if comment.resolved else ''}</p><pre>{escape(comment.body)}</pre>"
            )
        for run in self.sim.checks.runs_for(repository, pull.head_sha):
            parts.append(self._run(repository, run))
        parts.append(self._conversation(repository, issue))
        events = "".join(f"<option>{e}</option>" for e in ("COMMENT", "APPROVE", "REQUEST_CHANGES"))
        parts.append(
            self.form(
                repository,
                "review",
                f"<select name=event>{events}</select> <textarea name=body></textarea>",
                "Review",
                number=issue.number,
            )
        )
        methods = "".join(f"<option>{m}</option>" for m in ("merge", "squash", "rebase"))
        parts.append(
            self.form(
                repository,
                "merge",
                f"<select name=method>{methods}</select>",
                "Merge",
                number=issue.number,
            )
        )
        return page(f"{repository.full_name}#{issue.number}: {issue.title}", "".join(parts))

    def _run(self, repository: Repository, run: CheckRun) -> str:
        href = f"{PREFIX}/{repository.full_name}/runs/{run.id}"
        parts = [
            f'<p>check <a href="{escape(href)}"><b>{escape(run.name)}</b></a>: '
            f"{run.status} {run.conclusion or ''}</p>"
        ]
        if run.status == "completed":  # buttons show on completed runs only
            for button in run.actions:
                parts.append(
                    self.form(
                        repository,
                        "press",
                        "",
                        button["label"],
                        number=run.id,
                        identifier=button["identifier"],
                    )
                )
        return "".join(parts)

    async def check_run(self, request: web.Request) -> web.Response:
        repository = self._repo(request)
        wanted = request.match_info["id"]
        found = self.sim.checks.runs.get(int(wanted)) if wanted.isdigit() else None
        if found is None or found[0].id != repository.id:
            raise web.HTTPNotFound()
        run = found[1]
        output = "".join(
            f"<h3>{key}</h3><pre>{escape(str(run.output.get(key) or ''))}</pre>"
            for key in ("title", "summary", "text")
        )
        body = f"<p>on {run.head_sha} by {escape(run.app.slug)}</p>{self._run(repository, run)}"
        return page(f"{repository.full_name}: check run {run.name}", body + output)

    async def commit(self, request: web.Request) -> web.Response:
        repository = self._repo(request)
        sha = await self.sim.git.resolve(repository, request.match_info["sha"])
        if sha is None:
            raise web.HTTPNotFound()
        info = await objects.commit(self.sim.git, repository, sha)
        parent = info.parents[0] if info.parents else None
        parts = [
            f"<p>{escape(info.author.name)} &lt;{escape(info.author.email)}&gt; · "
            f"{escape(info.author.date)}</p><pre>{escape(info.message)}</pre>"
        ]
        if parent is not None:
            for change in await objects.changes(self.sim.git, repository, parent, sha):
                parts.append(
                    f"<h3>{escape(change.filename)} ({change.status})</h3>"
                    f"<pre>{escape(change.patch)}</pre>"
                )
        return page(f"{repository.full_name}@{sha[:12]}", "".join(parts))

    # Acting ----------------------------------------------------------------------------------

    def _trusted(self, request: web.Request, token: str) -> bool:
        origin = request.headers.get("Origin") or request.headers.get("Referer")
        if origin and urlsplit(origin).netloc != request.host:
            return False
        return hmac.compare_digest(token, self.csrf)

    async def act(self, request: web.Request) -> web.Response:
        repository = self._repo(request)
        form = await request.post()
        fields = {k: str(v) for k, v in form.items()}
        if not self._trusted(request, fields.pop("csrf", "")):
            return web.Response(
                status=403, text="Forbidden: this form did not come from this page."
            )
        action = FORM_ACTIONS.get(fields.pop("action", ""))
        person = fields.pop("as", "").strip()
        if action is None or not person:
            return web.Response(status=400, text="Say who acts and what they do.")
        answer = await self.people.run(
            self.people.actions[action],
            repository,
            person,
            fields,
            {"number": fields.get("number", "0")},
        )
        if answer.status >= 400:
            return web.Response(
                status=answer.status, text=answer.text or "", content_type="application/json"
            )
        number = fields.get("number")
        back = f"{PREFIX}/{repository.full_name}"
        if action.startswith(("issues/", "pulls/")) and number:
            issue = repository.issues.get(int(number))
            back += f"/{'pull' if issue and issue.pull else 'issues'}/{number}"
        raise web.HTTPSeeOther(back)
