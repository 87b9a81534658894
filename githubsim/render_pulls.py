"""Pull requests as GitHub's REST API and webhooks show them (`pull-request` and its kin)."""

from __future__ import annotations

from typing import Any

from githubsim.model import GitHubState, Repository
from githubsim.pulls_model import PullRequest
from githubsim.render import node_id, when


class PullRenderer:
    def __init__(self, state: GitHubState) -> None:
        self.state = state

    @property
    def r(self) -> Any:
        return self.state.render

    def mergeable_state(self, pull: PullRequest, blocked: bool) -> str:
        if pull.state != "open":
            return "unknown"
        if pull.draft:
            return "draft"
        if pull.mergeable is None:
            return "unknown"
        if not pull.mergeable:
            return "dirty"
        if blocked:
            return "blocked"
        return "clean"

    def branch(self, repository: Repository, ref: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{repository.owner.login}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.r.user(repository.owner),
            "repo": self.r.repository(repository),
        }

    def simple(self, repository: Repository, pull: PullRequest) -> dict[str, Any]:
        """The `pull-request-simple` form, as lists show it."""
        api = f"{self.r.api}/repos/{repository.full_name}"
        url = f"{api}/pulls/{pull.number}"
        html = f"{self.r.web}/{repository.full_name}/pull/{pull.number}"
        issue_url = f"{api}/issues/{pull.number}"
        issue = pull.issue
        statuses = f"{api}/statuses/{pull.head_sha}"
        return {
            "url": url,
            "id": pull.id,
            "node_id": node_id("PullRequest", pull.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue_url,
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{issue_url}/comments",
            "statuses_url": statuses,
            "number": pull.number,
            "state": issue.state,
            "locked": issue.locked,
            "title": issue.title,
            "user": self.r.user(issue.user),
            "body": issue.body,
            "labels": [self.r.label(repository, repository.labels[i]) for i in issue.labels],
            "milestone": None,
            "active_lock_reason": issue.active_lock_reason,
            "created_at": when(issue.created_at),
            "updated_at": when(issue.updated_at),
            "closed_at": when(issue.closed_at),
            "merged_at": when(pull.merged_at),
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": self.r.user(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self.r.user(u) for u in issue.assignees],
            "requested_reviewers": [self.r.user(u) for u in pull.requested_reviewers],
            "requested_teams": [],
            "head": self.branch(repository, pull.head_ref, pull.head_sha),
            "base": self.branch(repository, pull.base_ref, pull.base_sha),
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": issue_url},
                "comments": {"href": f"{issue_url}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": statuses},
            },
            "author_association": self.r.association(repository, issue.user),
            "auto_merge": None,
            "draft": pull.draft,
        }

    def pull(
        self,
        repository: Repository,
        pull: PullRequest,
        *,
        webhook: bool = False,
        blocked: bool = False,
    ) -> dict[str, Any]:
        data = self.simple(repository, pull)
        data.update(
            {
                "merged": pull.merged_at is not None,
                "mergeable": pull.mergeable,
                "rebaseable": pull.mergeable,
                "mergeable_state": self.mergeable_state(pull, blocked),
                "merged_by": self.r.user(pull.merged_by) if pull.merged_by else None,
                "comments": len(pull.issue.comment_ids),
                "review_comments": len(pull.review_comments),
                "maintainer_can_modify": pull.maintainer_can_modify,
                "commits": pull.stats.get("commits", 0),
                "additions": pull.stats.get("additions", 0),
                "deletions": pull.stats.get("deletions", 0),
                "changed_files": pull.stats.get("changed_files", 0),
            }
        )
        if webhook:
            data.update(
                {
                    "allow_auto_merge": False,
                    "allow_update_branch": True,
                    "delete_branch_on_merge": False,
                    "use_squash_pr_title_as_default": False,
                }
            )
        return data
