"""Acting as people on the stand-in: the Python API tests and the demo use (`sim.open_issue`,
`sim.push`, `sim.open_pull_request`, `sim.review`, `sim.merge`, `sim.press_button`, …).

Every method goes through the same state changes as the REST API and git over HTTP, so what
a person does here is announced exactly as on GitHub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization

from githubsim.auth import Authenticator
from githubsim.checks import CheckRun, Checks
from githubsim.ci import RepositoryCI
from githubsim.deliveries import WebhookSender
from githubsim.git_http import GitHttp
from githubsim.git_rest import GitRest
from githubsim.git_store import GitStore
from githubsim.issue_links import IssueLinks
from githubsim.model import App, Comment, GitHubState, Installation, Issue, Repository
from githubsim.people_git import push_files
from githubsim.protection import Protection
from githubsim.pulls_model import PullRequest, Pulls
from githubsim.reviews import Review, ReviewComment, Reviews


def manifest_permissions(manifest: Path) -> tuple[dict[str, str], list[str]]:
    """The permissions and events an App manifest (our `app.yml`) asks for."""
    data = yaml.safe_load(manifest.read_text())
    return dict(data.get("default_permissions") or {}), list(data.get("default_events") or [])


def public_key_of(private_key_pem: str) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


class ActingAsPeople:
    """The people's side of `GitHubSim` (a mixin: the server holds the parts)."""

    state: GitHubState
    auth: Authenticator
    git: GitStore
    git_http: GitHttp
    git_rest: GitRest
    pulls: Pulls
    reviews: Reviews
    checks: Checks
    ci: RepositoryCI
    links: IssueLinks
    webhooks: WebhookSender
    url: str

    def register_app(
        self,
        *,
        app_id: int,
        private_key: str,
        webhook_url: str | None,
        webhook_secret: str,
        manifest: Path,
        slug: str = "agent-orchestrator",
        owner: str = "orchestrator-dev",
    ) -> App:
        """The App as registered from its manifest: its permissions and events are those."""
        permissions, events = manifest_permissions(manifest)
        name = yaml.safe_load(manifest.read_text()).get("name", slug)
        return self.state.register_app(
            app_id=app_id,
            slug=slug,
            name=name,
            owner=owner,
            public_key=public_key_of(private_key),
            permissions=permissions,
            events=events,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
        )

    def create_repository(
        self,
        full_name: str,
        *,
        private: bool = False,
        description: str | None = None,
        plan: str = "free",
    ) -> Repository:
        """A repository (and its bare git); `plan` is its owner's ("free", "team", …)."""
        repository = self.state.create_repository(
            full_name, private=private, description=description
        )
        repository.plan = plan
        return repository

    def grant(self, repository: Repository, login: str, role: str) -> None:
        """Make `login` a collaborator with this role (read, triage, write, maintain, admin)."""
        self.state.set_role(repository, login, role)

    def install(
        self, app: App, repositories: list[Repository], *, by: str, account: str | None = None
    ) -> Installation:
        account = account or repositories[0].owner.login
        return self.state.install(app, account, repositories, sender=self.state.user(by))

    def uninstall(self, installation: Installation, *, by: str) -> None:
        self.state.uninstall(installation, sender=self.state.user(by))

    def suspend(self, installation: Installation, *, by: str) -> None:
        """An owner suspends the App: no webhooks, no tokens, until it is unsuspended."""
        self.state.suspend(installation, sender=self.state.user(by))

    def open_issue(
        self,
        repository: Repository,
        *,
        by: str,
        title: str,
        body: str | None = None,
        labels: tuple[str, ...] = (),
    ) -> Issue:
        return self.state.create_issue(repository, self.state.user(by), title, body, list(labels))

    def comment(self, repository: Repository, number: int, *, by: str, body: str) -> Comment:
        return self.state.create_comment(
            repository, self.state.user(by), repository.issues[number], body
        )

    def add_label(self, repository: Repository, number: int, *, by: str, name: str) -> None:
        self.state.add_labels(repository, self.state.user(by), repository.issues[number], [name])

    def remove_label(self, repository: Repository, number: int, *, by: str, name: str) -> None:
        label = repository.label_named(name)
        if label is not None:
            self.state.remove_label(
                repository, self.state.user(by), repository.issues[number], label
            )

    async def push(
        self,
        repository: Repository,
        *,
        by: str,
        files: dict[str, str | bytes | None],
        branch: str | None = None,
        from_branch: str | None = None,
        message: str = "Update files",
        force: bool = False,
    ) -> str:
        """`by` commits `files` (None deletes a path) and pushes with their own token, over
        HTTP as `git push` does; the new commit's sha. Refused pushes raise PushRefused."""
        return await push_files(
            self.git,
            self.url,
            repository,
            self.state.user(by),
            self.user_token(by),
            files=files,
            branch=branch or repository.default_branch,
            from_branch=from_branch,
            message=message,
            force=force,
        )

    def protect_branch(
        self,
        repository: Repository,
        branch: str,
        *,
        required_approving_review_count: int | None = 1,
        required_status_checks: tuple[str, ...] = (),
        enforce_admins: bool = True,
    ) -> Protection:
        """Protect `branch`: no force pushes or deletions; with reviews required (the
        default), no direct pushes: changes go through a pull request with that many
        approvals; with `required_status_checks` (e.g. ("ci",)), merges wait for them."""
        rule = Protection(
            branch,
            required_approving_review_count=required_approving_review_count,
            enforce_admins=enforce_admins,
            required_status_checks=list(required_status_checks),
        )
        self.git_http.protections[(repository.id, branch)] = rule
        return rule

    def revoke(self, token: str) -> None:
        """Revoke a token, as `DELETE /installation/token` or a person revoking a PAT does."""
        self.auth.tokens.pop(token, None)

    def set_ci(self, repository: Repository, command: str | None) -> None:
        """Give the repository its own CI: `command` (a shell line) runs in a checkout of each
        pull request's head, reported as check run `ci` and a commit status. None removes it."""
        self.ci.set_command(repository, command)

    async def open_pull_request(
        self,
        repository: Repository,
        *,
        by: str,
        head: str,
        base: str | None = None,
        title: str = "A change",
        body: str | None = None,
        draft: bool = False,
    ) -> PullRequest:
        """`by` opens a pull request from `head` into `base` (the default branch)."""
        return await self.pulls.open(
            repository,
            self.state.user(by),
            title=title,
            head=head,
            base=base or repository.default_branch,
            body=body,
            draft=draft,
        )

    async def merge(
        self, repository: Repository, number: int, *, by: str, method: str = "merge"
    ) -> str:
        """`by` merges pull request `number` (merge, squash or rebase); the new base sha."""
        pull = self.pulls.get(repository, number)
        assert pull is not None, f"no pull request #{number}"
        return await self.pulls.merge(repository, pull, self.state.user(by), method=method)

    def _pull(self, repository: Repository, number: int) -> PullRequest:
        pull = self.pulls.get(repository, number)
        assert pull is not None, f"no pull request #{number}"
        return pull

    async def review(
        self,
        repository: Repository,
        number: int,
        *,
        by: str,
        event: str,
        body: str = "",
        comments: list[dict[str, Any]] | None = None,
    ) -> Review:
        """`by` reviews pull request `number`: APPROVE, REQUEST_CHANGES or COMMENT, with
        inline comments ({"path", "line", "side", "body"}) on lines of its diff."""
        return await self.reviews.submit(
            repository,
            self._pull(repository, number),
            self.state.user(by),
            event=event,
            body=body,
            comments=comments,
        )

    def reply(
        self, repository: Repository, number: int, comment_id: int, *, by: str, body: str
    ) -> ReviewComment:
        """`by` answers a review comment in its thread."""
        pull = self._pull(repository, number)
        return self.reviews.reply(repository, pull, self.state.user(by), comment_id, body)

    def resolve_thread(
        self, repository: Repository, number: int, comment_id: int, *, by: str
    ) -> None:
        """`by` marks the thread of a review comment resolved."""
        pull = self._pull(repository, number)
        self.reviews.resolve(repository, pull, comment_id, self.state.user(by))

    def press_button(
        self, repository: Repository, check_run: CheckRun | int, identifier: str, *, by: str
    ) -> None:
        """`by` presses a check run's button: `check_run` `requested_action` to its App.
        Raises CheckRefused if the run is not completed, has no such button, or `by` lacks
        write access."""
        run_id = check_run if isinstance(check_run, int) else check_run.id
        _, run = self.checks.runs[run_id]
        self.checks.press(repository, run, identifier, self.state.user(by))

    def rerequest(self, repository: Repository, check_run: CheckRun | int, *, by: str) -> None:
        """`by` asks for a check run again ("Re-run"): `rerequested` to its App."""
        run_id = check_run if isinstance(check_run, int) else check_run.id
        _, run = self.checks.runs[run_id]
        self.checks.rerequest(repository, run, self.state.user(by))

    def ready_for_review(self, repository: Repository, number: int, *, by: str) -> None:
        pull = self.pulls.get(repository, number)
        assert pull is not None, f"no pull request #{number}"
        self.pulls.ready_for_review(repository, pull, self.state.user(by))

    def close(self, repository: Repository, number: int, *, by: str) -> None:
        """`by` closes issue (or pull request) `number` without merging it."""
        issue = repository.issues[number]
        self.state.update_issue(repository, self.state.user(by), issue, {"state": "closed"})

    def reopen(self, repository: Repository, number: int, *, by: str) -> None:
        """`by` reopens issue (or pull request) `number` (as the page's button: no checks)."""
        issue = repository.issues[number]
        self.state.update_issue(repository, self.state.user(by), issue, {"state": "open"})

    def assign(self, repository: Repository, number: int, *, by: str, logins: list[str]) -> None:
        """`by` assigns issue (or pull request) `number` to these collaborators."""
        issue = repository.issues[number]
        self.links.assign(repository, self.state.user(by), issue, logins)

    def add_sub_issue(self, repository: Repository, parent: int, child: int, *, by: str) -> None:
        """`by` makes issue `child` a sub-issue of issue `parent` (numbers, one repository)."""
        self.links.add_sub_issue(
            repository, self.state.user(by), repository.issues[parent], repository.issues[child].id
        )

    def user_token(self, login: str) -> str:
        """A personal access token for `login`, to call the REST API as that person."""
        return self.auth.user_token(login)

    def comments_on(self, repository: Repository, number: int) -> list[Comment]:
        return [repository.comments[c] for c in repository.issues[number].comment_ids]

    async def settle(self) -> None:
        """Wait until every CI run so far has finished and every webhook so far has been
        answered by the App."""
        await self.ci.settle()
        await self.webhooks.settle()
