"""The stand-in's objects as GitHub's REST API and webhooks show them.

Field lists and URL templates follow GitHub's OpenAPI description (the `issue`, `issue-comment`,
`label`, `repository`, `simple-user`, `installation` schemas and their webhook variants); the
conformance checker holds every response and delivery to them.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

from githubsim.model import (
    REACTIONS,
    App,
    Comment,
    Installation,
    Issue,
    Label,
    Reaction,
    Repository,
    User,
)

_REPOSITORY_URLS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def when(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode().rstrip("=")


#: App events GitHub's `issues` webhook description does not enumerate (see `_issue_app`).
_NOT_IN_ISSUE_WEBHOOKS = frozenset({"workflow_job"})


class Renderer:
    """Builds API objects with URLs on the stand-in's own address."""

    def __init__(self, api_base: str, web_base: str | None = None) -> None:
        self.api = api_base.rstrip("/")
        self.web = (web_base or f"{self.api}/_sim").rstrip("/")

    def user(self, user: User) -> dict[str, Any]:
        base = f"{self.api}/users/{user.login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": node_id(user.type, user.id),
            "avatar_url": f"{self.web}/avatars/{user.id}",
            "gravatar_id": "",
            "url": base,
            "html_url": f"{self.web}/{user.login}",
            "followers_url": f"{base}/followers",
            "following_url": f"{base}/following{{/other_user}}",
            "gists_url": f"{base}/gists{{/gist_id}}",
            "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/subscriptions",
            "organizations_url": f"{base}/orgs",
            "repos_url": f"{base}/repos",
            "events_url": f"{base}/events{{/privacy}}",
            "received_events_url": f"{base}/received_events",
            "type": user.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def organization(self, org: User) -> dict[str, Any]:
        base = f"{self.api}/orgs/{org.login}"
        return {
            "login": org.login,
            "id": org.id,
            "node_id": node_id("Organization", org.id),
            "url": base,
            "repos_url": f"{base}/repos",
            "events_url": f"{base}/events",
            "hooks_url": f"{base}/hooks",
            "issues_url": f"{base}/issues",
            "members_url": f"{base}/members{{/member}}",
            "public_members_url": f"{base}/public_members{{/member}}",
            "avatar_url": f"{self.web}/avatars/{org.id}",
            "description": None,
        }

    def repository_brief(self, repository: Repository) -> dict[str, Any]:
        """The short form in installation events."""
        return {
            "id": repository.id,
            "node_id": node_id("Repository", repository.id),
            "name": repository.name,
            "full_name": repository.full_name,
            "private": repository.private,
        }

    def repository(self, repository: Repository, *, webhook: bool = False) -> dict[str, Any]:
        api = f"{self.api}/repos/{repository.full_name}"
        html = f"{self.web}/{repository.full_name}"
        open_issues = sum(1 for i in repository.issues.values() if i.state == "open")
        data: dict[str, Any] = {
            **self.repository_brief(repository),
            "owner": self.user(repository.owner),
            "html_url": html,
            "description": repository.description,
            "fork": False,
            "url": api,
            **{key: api + suffix for key, suffix in _REPOSITORY_URLS.items()},
            "created_at": when(repository.created_at),
            "updated_at": when(repository.created_at),
            "pushed_at": when(repository.pushed_at or repository.created_at),
            "git_url": f"git://sim/{repository.full_name}.git",
            "ssh_url": f"git@sim:{repository.full_name}.git",
            "clone_url": f"{self.api}/{repository.full_name}.git",
            "svn_url": html,
            "mirror_url": None,
            "homepage": None,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None,
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": 0,
            "archived": False,
            "disabled": False,
            "open_issues_count": open_issues,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "topics": [],
            "visibility": "private" if repository.private else "public",
            "forks": 0,
            "open_issues": open_issues,
            "watchers": 0,
            "default_branch": repository.default_branch,
        }
        if webhook:
            data["stargazers"] = 0
        return data

    def label(self, repository: Repository, label: Label) -> dict[str, Any]:
        return {
            "id": label.id,
            "node_id": node_id("Label", label.id),
            "url": f"{self.api}/repos/{repository.full_name}/labels/{label.name}",
            "name": label.name,
            "color": label.color,
            "default": label.default,
            "description": label.description,
        }

    def reactions(self, url: str, reactions: list[Reaction]) -> dict[str, Any]:
        counts = {content: 0 for content in REACTIONS}
        for reaction in reactions:
            counts[reaction.content] += 1
        return {"url": url + "/reactions", "total_count": len(reactions), **counts}

    def reaction(self, reaction: Reaction) -> dict[str, Any]:
        return {
            "id": reaction.id,
            "node_id": node_id("Reaction", reaction.id),
            "user": self.user(reaction.user),
            "content": reaction.content,
            "created_at": when(reaction.created_at),
        }

    def app(self, app: App) -> dict[str, Any]:
        return {
            "id": app.id,
            "slug": app.slug,
            "node_id": node_id("App", app.id),
            "client_id": f"Iv1.{app.id:016x}",
            "owner": self.user(app.owner),
            "name": app.name,
            "description": "",
            "external_url": f"{self.web}/apps/{app.slug}",
            "html_url": f"{self.web}/apps/{app.slug}",
            "created_at": when(app.created_at),
            "updated_at": when(app.created_at),
            "permissions": dict(app.permissions),
            "events": list(app.events),
        }

    def _issue_app(self, app: App | None, webhook: bool) -> dict[str, Any] | None:
        """The App that opened an issue. GitHub's webhook description enumerates the events
        such an App may subscribe to and lacks `workflow_job` (which the REST description and
        our manifest have): in a webhook the stand-in lists only the events it enumerates."""
        if app is None:
            return None
        shown = self.app(app)
        if webhook:
            shown["events"] = [e for e in shown["events"] if e not in _NOT_IN_ISSUE_WEBHOOKS]
        return shown

    def association(self, repository: Repository, user: User) -> str:
        role = repository.role_of(user.login)
        if user.login.lower() == repository.owner.login.lower():
            return "OWNER"
        return "COLLABORATOR" if role not in ("none", "read") else "NONE"

    def issue(
        self, repository: Repository, issue: Issue, *, webhook: bool = False
    ) -> dict[str, Any]:
        api = f"{self.api}/repos/{repository.full_name}"
        url = f"{api}/issues/{issue.number}"
        data: dict[str, Any] = {
            "url": url,
            "repository_url": api,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{self.web}/{repository.full_name}/issues/{issue.number}",
            "id": issue.id,
            "node_id": node_id("Issue", issue.id),
            "number": issue.number,
            "title": issue.title,
            "user": self.user(issue.user),
            "labels": [self.label(repository, repository.labels[i]) for i in issue.labels],
            "state": issue.state,
            "locked": issue.locked,
            "assignee": self.user(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self.user(u) for u in issue.assignees],
            "milestone": None,
            "comments": len(issue.comment_ids),
            "created_at": when(issue.created_at),
            "updated_at": when(issue.updated_at),
            "closed_at": when(issue.closed_at),
            "author_association": self.association(repository, issue.user),
            "active_lock_reason": issue.active_lock_reason,
            "body": issue.body,
            "closed_by": self.user(issue.closed_by) if issue.closed_by else None,
            "reactions": self.reactions(url, issue.reactions),
            "timeline_url": f"{url}/timeline",
            "performed_via_github_app": self._issue_app(issue.via_app, webhook),
            "state_reason": issue.state_reason,
        }
        if issue.sub_issue_ids:
            data["sub_issues_summary"] = {
                "total": len(issue.sub_issue_ids),
                "completed": 0,
                "percent_completed": 0,
            }
        if issue.pull is not None:
            html = f"{self.web}/{repository.full_name}/pull/{issue.number}"
            data["pull_request"] = {
                "url": f"{api}/pulls/{issue.number}",
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": when(issue.pull.merged_at),
            }
        if webhook:
            del data["closed_by"]
        return data

    def comment(
        self, repository: Repository, comment: Comment, *, webhook: bool = False
    ) -> dict[str, Any]:
        api = f"{self.api}/repos/{repository.full_name}"
        url = f"{api}/issues/comments/{comment.id}"
        return {
            "url": url,
            "html_url": f"{self.web}/{repository.full_name}/issues/{comment.issue_number}"
            f"#issuecomment-{comment.id}",
            "issue_url": f"{api}/issues/{comment.issue_number}",
            "id": comment.id,
            "node_id": node_id("IssueComment", comment.id),
            "user": self.user(comment.user),
            "created_at": when(comment.created_at),
            "updated_at": when(comment.updated_at),
            "author_association": self.association(repository, comment.user),
            "body": comment.body,
            "reactions": self.reactions(url, comment.reactions),
            "performed_via_github_app": self.app(comment.via_app) if comment.via_app else None,
        }

    def installation(self, installation: Installation) -> dict[str, Any]:
        account = installation.account
        return {
            "id": installation.id,
            "node_id": node_id("Installation", installation.id),
            "account": self.user(account),
            "repository_selection": installation.repository_selection,
            "access_tokens_url": f"{self.api}/app/installations/{installation.id}/access_tokens",
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{self.web}/settings/installations/{installation.id}",
            "app_id": installation.app.id,
            "app_slug": installation.app.slug,
            "target_id": account.id,
            "target_type": account.type,
            "permissions": dict(installation.app.permissions),
            "events": list(installation.app.events),
            "created_at": when(installation.created_at),
            "updated_at": when(installation.created_at),
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": self.user(installation.suspended_by)
            if installation.suspended_by
            else None,
            "suspended_at": when(installation.suspended_at),
        }

    def simple_installation(self, installation: Installation) -> dict[str, Any]:
        return {"id": installation.id, "node_id": node_id("Installation", installation.id)}
