"""The stand-in's state: users, the App, installations, repositories, issues, comments, labels.

Every change goes through one method here, whoever makes it (a REST call by the bot or a
person acting in a test), and reports the webhook GitHub would send through `on_event`.
That is how what you create, what you list and what you receive as a webhook always agree.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from githubsim.pulls_model import PullRequest

#: The labels GitHub gives every new repository (name, colour, description).
DEFAULT_LABELS = (
    ("bug", "d73a4a", "Something isn't working"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("duplicate", "cfd3d7", "This issue or pull request already exists"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("help wanted", "008672", "Extra attention is needed"),
    ("invalid", "e4e669", "This doesn't seem right"),
    ("question", "d876e3", "Further information is requested"),
    ("wontfix", "ffffff", "This will not be worked on"),
)
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")
LOCK_REASONS = ("off-topic", "too heated", "resolved", "spam")
#: GitHub refuses titles, bodies and comments longer than this many characters.
MAX_BODY = 65_536
#: Collaborator roles, weakest first.
ROLES = ("none", "read", "triage", "write", "maintain", "admin")


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@dataclasses.dataclass
class User:
    login: str
    id: int
    type: str = "User"  # "User", "Bot" or "Organization"


@dataclasses.dataclass
class App:
    id: int
    slug: str
    name: str
    owner: User
    bot: User
    public_key: str
    permissions: dict[str, str]
    events: list[str]
    webhook_url: str | None
    webhook_secret: str
    created_at: datetime.datetime = dataclasses.field(default_factory=utcnow)


@dataclasses.dataclass
class Installation:
    id: int
    app: App
    account: User
    repository_ids: list[int]
    repository_selection: str = "selected"
    created_at: datetime.datetime = dataclasses.field(default_factory=utcnow)
    suspended_at: datetime.datetime | None = None
    suspended_by: User | None = None


@dataclasses.dataclass
class Label:
    id: int
    name: str
    color: str
    description: str | None
    default: bool = False


@dataclasses.dataclass
class Reaction:
    id: int
    user: User
    content: str
    created_at: datetime.datetime


@dataclasses.dataclass
class Comment:
    id: int
    issue_number: int
    user: User
    body: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    via_app: App | None = None
    reactions: list[Reaction] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Issue:
    id: int
    number: int
    title: str
    body: str | None
    user: User
    created_at: datetime.datetime
    updated_at: datetime.datetime
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime.datetime | None = None
    closed_by: User | None = None
    locked: bool = False
    active_lock_reason: str | None = None
    labels: list[int] = dataclasses.field(default_factory=list)  # label ids, in order added
    comment_ids: list[int] = dataclasses.field(default_factory=list)
    via_app: App | None = None
    reactions: list[Reaction] = dataclasses.field(default_factory=list)
    pull: PullRequest | None = None  # set when this issue is a pull request's
    assignees: list[User] = dataclasses.field(default_factory=list)
    parent_id: int | None = None  # the parent issue's id, for a sub-issue
    sub_issue_ids: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Repository:
    id: int
    owner: User
    name: str
    private: bool
    description: str | None
    created_at: datetime.datetime
    default_branch: str = "main"
    labels: dict[int, Label] = dataclasses.field(default_factory=dict)
    issues: dict[int, Issue] = dataclasses.field(default_factory=dict)
    comments: dict[int, Comment] = dataclasses.field(default_factory=dict)
    roles: dict[str, str] = dataclasses.field(default_factory=dict)  # login (lower) -> role
    pushed_at: datetime.datetime | None = None
    plan: str = "free"  # the owner's plan: "free" has no draft pull requests in private repos

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def label_named(self, name: str) -> Label | None:
        wanted = name.lower()
        return next((lb for lb in self.labels.values() if lb.name.lower() == wanted), None)

    def role_of(self, login: str) -> str:
        if login.lower() == self.owner.login.lower():
            return "admin"
        return self.roles.get(login.lower(), "none" if self.private else "read")


@dataclasses.dataclass(frozen=True)
class Event:
    """A change as GitHub announces it: the event name, its payload, who hears of it."""

    name: str
    payload: dict[str, Any]
    repository: Repository | None
    installation: Installation | None = None
    only_app: App | None = None  # heard by this App alone (a check run's own events)


class Conflict(Exception):
    """GitHub would answer 422: the change is not valid (the message says why)."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class GitHubState:
    """All of the stand-in's data, with the mutations GitHub allows on it."""

    def __init__(self, *, clock: Callable[[], datetime.datetime] = utcnow) -> None:
        self.clock = clock
        self._ids = itertools.count(1000)
        self.users: dict[str, User] = {}
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.repositories: dict[str, Repository] = {}  # full name (lower) -> repository
        self.listeners: list[Callable[[Event], None]] = []
        # Renderers are attached by the server, which knows its own address.
        self.render: Any = None
        # A change to a pull request's issue is announced as `pull_request` by this hook.
        self.announce_pull: (
            Callable[[str, Repository, Issue, User, dict[str, Any]], None] | None
        ) = None

    def next_id(self) -> int:
        return next(self._ids)

    # People and Apps ----------------------------------------------------------------

    def user(self, login: str, *, type: str = "User") -> User:
        found = self.users.get(login.lower())
        if found is None:
            found = self.users[login.lower()] = User(login, self.next_id(), type)
        return found

    def register_app(
        self,
        *,
        app_id: int,
        slug: str,
        name: str,
        owner: str,
        public_key: str,
        permissions: dict[str, str],
        events: list[str],
        webhook_url: str | None,
        webhook_secret: str,
    ) -> App:
        bot = self.user(f"{slug}[bot]", type="Bot")
        app = App(
            app_id,
            slug,
            name,
            self.user(owner, type="Organization"),
            bot,
            public_key,
            dict(permissions),
            list(events),
            webhook_url,
            webhook_secret,
        )
        self.apps[app_id] = app
        return app

    # Repositories -------------------------------------------------------------------

    def create_repository(
        self, full_name: str, *, private: bool = False, description: str | None = None
    ) -> Repository:
        owner, name = full_name.split("/", 1)
        if full_name.lower() in self.repositories:
            raise Conflict("name already exists on this account")
        repository = Repository(
            self.next_id(),
            self.user(owner, type="Organization"),
            name,
            private,
            description,
            self.clock(),
        )
        for label_name, color, text in DEFAULT_LABELS:
            label = Label(self.next_id(), label_name, color, text, default=True)
            repository.labels[label.id] = label
        self.repositories[full_name.lower()] = repository
        return repository

    def repository(self, owner: str, name: str) -> Repository | None:
        return self.repositories.get(f"{owner}/{name}".lower())

    def repository_by_id(self, repository_id: int) -> Repository | None:
        return next((r for r in self.repositories.values() if r.id == repository_id), None)

    def set_role(self, repository: Repository, login: str, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        self.user(login)
        repository.roles[login.lower()] = role

    # Installations --------------------------------------------------------------------

    def install(
        self, app: App, account: str, repositories: list[Repository], *, sender: User
    ) -> Installation:
        installation = Installation(
            self.next_id(),
            app,
            self.user(account, type="Organization"),
            [r.id for r in repositories],
        )
        self.installations[installation.id] = installation
        self._emit(
            "installation",
            "created",
            None,
            installation,
            sender,
            repositories=[self.render.repository_brief(r) for r in repositories],
        )
        return installation

    def uninstall(self, installation: Installation, *, sender: User) -> None:
        repositories = self.installed_repositories(installation)
        self._emit(
            "installation",
            "deleted",
            None,
            installation,
            sender,
            repositories=[self.render.repository_brief(r) for r in repositories],
        )
        del self.installations[installation.id]

    def suspend(self, installation: Installation, *, sender: User) -> None:
        installation.suspended_at, installation.suspended_by = self.clock(), sender
        self._emit("installation", "suspend", None, installation, sender)

    def add_to_installation(
        self, installation: Installation, repositories: list[Repository], *, sender: User
    ) -> None:
        new = [r for r in repositories if r.id not in installation.repository_ids]
        installation.repository_ids.extend(r.id for r in new)
        self._emit(
            "installation_repositories",
            "added",
            None,
            installation,
            sender,
            repository_selection=installation.repository_selection,
            repositories_added=[self.render.repository_brief(r) for r in new],
            repositories_removed=[],
            requester=None,
        )

    def remove_from_installation(
        self, installation: Installation, repositories: list[Repository], *, sender: User
    ) -> None:
        gone = [r for r in repositories if r.id in installation.repository_ids]
        installation.repository_ids[:] = [
            i for i in installation.repository_ids if i not in {r.id for r in gone}
        ]
        self._emit(
            "installation_repositories",
            "removed",
            None,
            installation,
            sender,
            repository_selection=installation.repository_selection,
            repositories_added=[],
            repositories_removed=[self.render.repository_brief(r) for r in gone],
            requester=None,
        )

    def installed_repositories(self, installation: Installation) -> list[Repository]:
        return [r for i in installation.repository_ids if (r := self.repository_by_id(i))]

    def installation_for(self, repository: Repository) -> list[Installation]:
        return [i for i in self.installations.values() if repository.id in i.repository_ids]

    # Labels -------------------------------------------------------------------------

    def create_label(
        self,
        repository: Repository,
        sender: User,
        name: str,
        color: str,
        description: str | None = None,
    ) -> Label:
        if repository.label_named(name) is not None:
            raise Conflict(
                "Validation Failed",
                [{"resource": "Label", "code": "already_exists", "field": "name"}],
            )
        if not _is_color(color):
            raise Conflict(
                "Validation Failed", [{"resource": "Label", "code": "invalid", "field": "color"}]
            )
        label = Label(self.next_id(), name, color.lstrip("#"), description)
        repository.labels[label.id] = label
        self._emit(
            "label", "created", repository, None, sender, label=self.render.label(repository, label)
        )
        return label

    def update_label(
        self, repository: Repository, sender: User, label: Label, changes: dict[str, Any]
    ) -> Label:
        before: dict[str, Any] = {}
        if "new_name" in changes and changes["new_name"] != label.name:
            other = repository.label_named(changes["new_name"])
            if other is not None and other is not label:
                raise Conflict(
                    "Validation Failed",
                    [{"resource": "Label", "code": "already_exists", "field": "name"}],
                )
            before["name"] = {"from": label.name}
            label.name = changes["new_name"]
        if "color" in changes and changes["color"] != label.color:
            if not _is_color(changes["color"]):
                raise Conflict(
                    "Validation Failed",
                    [{"resource": "Label", "code": "invalid", "field": "color"}],
                )
            before["color"] = {"from": label.color}
            label.color = changes["color"].lstrip("#")
        if "description" in changes and changes["description"] != label.description:
            before["description"] = {"from": label.description or ""}
            label.description = changes["description"]
        self._emit(
            "label",
            "edited",
            repository,
            None,
            sender,
            label=self.render.label(repository, label),
            changes=before,
        )
        return label

    def delete_label(self, repository: Repository, sender: User, label: Label) -> None:
        for issue in repository.issues.values():
            if label.id in issue.labels:
                issue.labels.remove(label.id)
        del repository.labels[label.id]
        self._emit(
            "label", "deleted", repository, None, sender, label=self.render.label(repository, label)
        )

    # Issues ---------------------------------------------------------------------------

    def next_number(self, repository: Repository) -> int:
        """Issues and pull requests share one sequence of numbers."""
        return 1 + max(repository.issues, default=0)

    def create_issue(
        self,
        repository: Repository,
        sender: User,
        title: str,
        body: str | None = None,
        labels: list[str] | None = None,
        *,
        via_app: App | None = None,
    ) -> Issue:
        check_length("Issue", title=title, body=body)
        now = self.clock()
        number = self.next_number(repository)
        issue = Issue(self.next_id(), number, title, body, sender, now, now, via_app=via_app)
        repository.issues[number] = issue
        self._emit_issue("opened", repository, issue, sender)
        self.add_labels(repository, sender, issue, labels or [])
        return issue

    def update_issue(
        self, repository: Repository, sender: User, issue: Issue, changes: dict[str, Any]
    ) -> Issue:
        check_length("Issue", title=changes.get("title"), body=changes.get("body"))
        edited: dict[str, Any] = {}
        for field in ("title", "body"):
            if field in changes and changes[field] != getattr(issue, field):
                edited[field] = {"from": getattr(issue, field) or ""}
                setattr(issue, field, changes[field])
        if edited:
            issue.updated_at = self.clock()
            self._emit_issue("edited", repository, issue, sender, changes=edited)
        if "labels" in changes:
            self.set_labels(repository, sender, issue, list(changes["labels"] or []))
        state = changes.get("state")
        if state == "closed" and issue.state == "open":
            issue.state, issue.closed_by = "closed", sender
            issue.state_reason = changes.get("state_reason") or "completed"
            issue.closed_at = issue.updated_at = self.clock()
            self._emit_issue("closed", repository, issue, sender)
        elif state == "open" and issue.state == "closed":
            issue.state, issue.state_reason = "open", "reopened"
            issue.closed_at = issue.closed_by = None
            issue.updated_at = self.clock()
            self._emit_issue("reopened", repository, issue, sender)
        return issue

    def lock_issue(
        self, repository: Repository, sender: User, issue: Issue, reason: str | None
    ) -> None:
        if issue.locked:
            return
        issue.locked, issue.active_lock_reason = True, reason
        issue.updated_at = self.clock()
        self._emit_issue("locked", repository, issue, sender)

    def unlock_issue(self, repository: Repository, sender: User, issue: Issue) -> None:
        if not issue.locked:
            return
        issue.locked, issue.active_lock_reason = False, None
        issue.updated_at = self.clock()
        self._emit_issue("unlocked", repository, issue, sender)

    def add_labels(
        self, repository: Repository, sender: User, issue: Issue, names: list[str]
    ) -> None:
        for name in names:
            label = repository.label_named(name)
            if label is None:  # GitHub creates labels that do not exist yet
                label = Label(self.next_id(), name, "ededed", None)
                repository.labels[label.id] = label
                self._emit(
                    "label",
                    "created",
                    repository,
                    None,
                    sender,
                    label=self.render.label(repository, label),
                )
            if label.id in issue.labels:
                continue
            issue.labels.append(label.id)
            issue.updated_at = self.clock()
            self._emit_issue(
                "labeled", repository, issue, sender, label=self.render.label(repository, label)
            )

    def remove_label(
        self, repository: Repository, sender: User, issue: Issue, label: Label
    ) -> None:
        if label.id not in issue.labels:
            return
        issue.labels.remove(label.id)
        issue.updated_at = self.clock()
        self._emit_issue(
            "unlabeled", repository, issue, sender, label=self.render.label(repository, label)
        )

    def set_labels(
        self, repository: Repository, sender: User, issue: Issue, names: list[str]
    ) -> None:
        wanted = {n.lower() for n in names}
        for label_id in list(issue.labels):
            label = repository.labels[label_id]
            if label.name.lower() not in wanted:
                self.remove_label(repository, sender, issue, label)
        self.add_labels(repository, sender, issue, names)

    # Comments and reactions --------------------------------------------------------

    def create_comment(
        self,
        repository: Repository,
        sender: User,
        issue: Issue,
        body: str,
        *,
        via_app: App | None = None,
    ) -> Comment:
        check_length("IssueComment", body=body)
        now = self.clock()
        comment = Comment(self.next_id(), issue.number, sender, body, now, now, via_app)
        repository.comments[comment.id] = comment
        issue.comment_ids.append(comment.id)
        issue.updated_at = now
        self._emit_comment("created", repository, issue, comment, sender)
        return comment

    def update_comment(
        self, repository: Repository, sender: User, comment: Comment, body: str
    ) -> Comment:
        check_length("IssueComment", body=body)
        if body != comment.body:
            before = comment.body
            comment.body, comment.updated_at = body, self.clock()
            self._emit_comment(
                "edited",
                repository,
                repository.issues[comment.issue_number],
                comment,
                sender,
                changes={"body": {"from": before}},
            )
        return comment

    def delete_comment(self, repository: Repository, sender: User, comment: Comment) -> None:
        issue = repository.issues[comment.issue_number]
        del repository.comments[comment.id]
        issue.comment_ids.remove(comment.id)
        self._emit_comment("deleted", repository, issue, comment, sender)

    def react(self, sender: User, reactions: list[Reaction], content: str) -> tuple[Reaction, bool]:
        """Add a reaction unless this user already reacted so; (reaction, created)."""
        for reaction in reactions:
            if reaction.user.id == sender.id and reaction.content == content:
                return reaction, False
        reaction = Reaction(self.next_id(), sender, content, self.clock())
        reactions.append(reaction)
        return reaction, True

    # Webhooks ------------------------------------------------------------------------

    def _emit_issue(
        self, action: str, repository: Repository, issue: Issue, sender: User, **extra: Any
    ) -> None:
        if issue.pull is not None and self.announce_pull is not None:
            self.announce_pull(action, repository, issue, sender, extra)
            return
        self._emit(
            "issues",
            action,
            repository,
            None,
            sender,
            issue=self.render.issue(repository, issue, webhook=True),
            **extra,
        )

    def _emit_comment(
        self,
        action: str,
        repository: Repository,
        issue: Issue,
        comment: Comment,
        sender: User,
        **extra: Any,
    ) -> None:
        self._emit(
            "issue_comment",
            action,
            repository,
            None,
            sender,
            issue=self.render.issue(repository, issue, webhook=True),
            comment=self.render.comment(repository, comment, webhook=True),
            **extra,
        )

    def announce(
        self,
        name: str,
        action: str | None,
        repository: Repository,
        sender: User,
        /,
        *,
        only_app: App | None = None,
        **fields: Any,
    ) -> None:
        """Send the webhook for a change made elsewhere (git, pull requests, checks)."""
        self._emit(name, action, repository, None, sender, only_app=only_app, **fields)

    def _emit(
        self,
        name: str,
        action: str | None,
        repository: Repository | None,
        installation: Installation | None,
        sender: User,
        /,
        *,
        only_app: App | None = None,
        **fields: Any,
    ) -> None:
        payload: dict[str, Any] = {"action": action, **fields} if action else dict(fields)
        if repository is not None:
            payload["repository"] = self.render.repository(repository, webhook=True)
        if installation is not None:
            payload["installation"] = self.render.installation(installation)
        if repository is not None and repository.owner.type == "Organization":
            payload["organization"] = self.render.organization(repository.owner)
        payload["sender"] = self.render.user(sender)
        event = Event(name, payload, repository, installation, only_app)
        for listener in self.listeners:
            listener(event)


def check_length(resource: str, **texts: str | None) -> None:
    """GitHub's limit on every path (REST, people, the web view): 422 past MAX_BODY."""
    for field, text in texts.items():
        if text is not None and len(text) > MAX_BODY:
            raise Conflict(
                "Validation Failed",
                [
                    {
                        "resource": resource,
                        "code": "custom",
                        "field": field,
                        "message": f"{field} is too long (maximum is {MAX_BODY} characters)",
                    }
                ],
            )


def _is_color(value: object) -> bool:
    text = str(value).lstrip("#")
    return len(text) == 6 and all(c in "0123456789abcdefABCDEF" for c in text)
