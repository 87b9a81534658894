"""Check runs, check suites and commit statuses as GitHub's REST API and webhooks show them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from githubsim.git_objects import CommitInfo
from githubsim.model import App, GitHubState, Repository
from githubsim.pulls_model import Pulls
from githubsim.render import node_id, when
from githubsim.render_git import utc

if TYPE_CHECKING:
    from githubsim.checks import CheckRun, CommitStatus


class CheckRendering:
    """The rendering half of `Checks` (a mixin: `Checks` holds the state)."""

    state: GitHubState
    pulls: Pulls

    def render_suite(
        self,
        repository: Repository,
        run: CheckRun,
        runs: list[CheckRun],
        conclusion: str,
        info: CommitInfo,
        branch: str | None,
    ) -> dict[str, Any]:
        r = self.state.render
        api = f"{r.api}/repos/{repository.full_name}"
        latest = max(runs, key=lambda x: x.completed_at or x.started_at)
        return {
            "id": run.suite_id,
            "node_id": node_id("CheckSuite", run.suite_id),
            "head_branch": branch,
            "head_sha": run.head_sha,
            "status": "completed",
            "conclusion": conclusion,
            "url": f"{api}/check-suites/{run.suite_id}",
            "before": None,
            "after": run.head_sha,
            "pull_requests": self._minimal_pulls(repository, run.head_sha),
            "app": self.app(run.app),
            "created_at": when(min(x.started_at for x in runs)),
            "updated_at": when(latest.completed_at),
            "latest_check_runs_count": len(runs),
            "check_runs_url": f"{api}/check-suites/{run.suite_id}/check-runs",
            "head_commit": {
                "id": info.sha,
                "tree_id": info.tree,
                "message": info.message.rstrip("\n"),
                "timestamp": utc(info.committer.date),
                "author": {"name": info.author.name, "email": info.author.email},
                "committer": {"name": info.committer.name, "email": info.committer.email},
            },
            "rerequestable": True,
            "runs_rerequestable": True,
        }

    def render(
        self, repository: Repository, run: CheckRun, *, webhook: bool = False
    ) -> dict[str, Any]:
        r = self.state.render
        api = f"{r.api}/repos/{repository.full_name}"
        url = f"{api}/check-runs/{run.id}"
        suite: dict[str, Any] = {"id": run.suite_id}
        if webhook:
            suite.update(
                {
                    "node_id": node_id("CheckSuite", run.suite_id),
                    "head_sha": run.head_sha,
                    "status": run.status,
                    "conclusion": run.conclusion,
                    "url": f"{api}/check-suites/{run.suite_id}",
                    "app": self.app(run.app),
                    "pull_requests": [],
                }
            )
        return {
            "id": run.id,
            "node_id": node_id("CheckRun", run.id),
            "head_sha": run.head_sha,
            "external_id": run.external_id or "",
            "url": url,
            "html_url": f"{r.web}/{repository.full_name}/runs/{run.id}",
            "details_url": run.details_url or f"{r.web}/{repository.full_name}/runs/{run.id}",
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": when(run.started_at),
            "completed_at": when(run.completed_at),
            "output": {
                **run.output,
                "annotations_count": 0,
                "annotations_url": f"{url}/annotations",
            },
            "name": run.name,
            "check_suite": suite,
            "app": self.app(run.app),
            "pull_requests": self._minimal_pulls(repository, run.head_sha),
        }

    def _minimal_pulls(self, repository: Repository, sha: str) -> list[dict[str, Any]]:
        """The open pull requests whose head is `sha` (`pull-request-minimal`)."""
        api = f"{self.state.render.api}/repos/{repository.full_name}"
        repo = {"id": repository.id, "url": api, "name": repository.name}
        return [
            {
                "id": p.id,
                "number": p.number,
                "url": f"{api}/pulls/{p.number}",
                "head": {"ref": p.head_ref, "sha": p.head_sha, "repo": repo},
                "base": {"ref": p.base_ref, "sha": p.base_sha, "repo": repo},
            }
            for p in self.pulls.of(repository)
            if p.state == "open" and p.head_sha == sha
        ]

    def app(self, app: App) -> dict[str, Any]:
        return self.state.render.app(app)  # type: ignore[no-any-return]

    def render_status(self, repository: Repository, status: CommitStatus) -> dict[str, Any]:
        r = self.state.render
        return {
            "url": f"{r.api}/repos/{repository.full_name}/statuses/{status.sha}",
            "avatar_url": f"{r.web}/avatars/{status.creator.id}",
            "id": status.id,
            "node_id": node_id("StatusContext", status.id),
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": when(status.created_at),
            "updated_at": when(status.created_at),
            "creator": r.user(status.creator),
        }
