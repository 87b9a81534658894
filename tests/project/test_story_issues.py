"""Story issues decided without I/O: what the sprint asks for, titles, markers, labels."""

from __future__ import annotations

from bot.handlers.board import sent_by_a_bot, touches_sprint_status
from bot.project.board import Board, epics_of
from bot.project.sprint_status import parse
from bot.project.status_issue import body
from bot.project.status_publish import graphql_url
from bot.project.story_issues import (
    key_in,
    label_changes,
    statuses_in,
    story_mark,
    title_of,
    wanted,
    workable,
)
from bot.templates import render

SPRINT = """\
development_status:
  epic-1: in-progress
  1-1-sign-in: Done          # a variant: read as done
  1-2-sign-out: drafted      # legacy: read as ready-for-dev
  1-3-old-idea: cancelled    # not BMAD's: no label
  epic-1-retrospective: optional
  epic-2: backlog
  2-1-profile: backlog
"""


def test_each_epic_comes_before_its_stories_with_one_label_each():
    sprint = parse(SPRINT)
    url = "https://github.com/o/r/blob/main/s.yaml"
    found = wanted(epics_of(sprint, None, url), {"1-1-sign-in": "https://x/1-1.md"}, url)
    assert [(w.key, w.label, w.epic) for w in found] == [
        ("epic-1", "story: in-progress", None),
        ("1-1-sign-in", "story: done", "epic-1"),
        ("1-2-sign-out", "story: ready-for-dev", "epic-1"),
        ("1-3-old-idea", None, "epic-1"),
        ("epic-2", "story: backlog", None),
        ("2-1-profile", "story: backlog", "epic-2"),
    ]
    first = found[1]
    assert key_in(first.body) == "1-1-sign-in" and "https://x/1-1.md" in first.body
    assert "No story file yet" in found[2].body
    assert "cancelled" in found[3].body  # shown as written


def test_titles_and_markers():
    assert title_of("1-2-user-can-log-in") == "1-2 User can log in"
    assert title_of("5-cp11-fix_it") == "5-cp11 Fix it"
    assert title_of("epic-2.5") == "Epic 2.5"
    assert key_in(f"text\n{story_mark('3-2a-x')}") == "3-2a-x"
    assert key_in("no marker") is None


def test_exactly_one_status_label_and_blocked_stays():
    assert label_changes(["bug", "story: backlog"], "story: review") == (
        ["story: review"], ["story: backlog"],
    )  # fmt: skip
    assert label_changes(["story: review"], "story: review") == ([], [])
    # a person's second label, its delivery on its way: the handler decides
    assert label_changes(["story: review", "story: done"], "story: done", settling=True) == (
        [], [],
    )  # fmt: skip
    assert label_changes(["story: review", "story: done"], "story: done") == (
        [], ["story: review"],
    )  # fmt: skip
    assert label_changes(["story: review", "story: done"], "story: backlog") == (
        ["story: backlog"], ["story: review", "story: done"],
    )  # fmt: skip
    assert label_changes(["story: blocked", "story: review"], "story: done") == (
        [], ["story: review"],
    )  # fmt: skip
    assert label_changes(["story: done"], None) == ([], ["story: done"])
    assert statuses_in(["bug", "story: blocked", "Story: done"]) == ["blocked", "done"]


def test_a_closed_or_blocked_story_is_not_worked_on():
    label = {"name": "story: ready-for-dev"}
    assert workable({"state": "open", "labels": [label]})
    assert not workable({"state": "closed", "labels": [label]})
    assert not workable({"state": "open", "labels": [{"name": "story: blocked"}]})


def test_which_pushes_make_a_pass_and_whose_events_are_ignored():
    repository = {"default_branch": "main"}
    commit = {"added": [], "modified": ["docs/sprint-status.yaml"]}
    push = {"ref": "refs/heads/main", "repository": repository, "commits": [commit]}
    assert touches_sprint_status(push)
    assert not touches_sprint_status(push | {"ref": "refs/heads/ao/7-dev"})
    assert not touches_sprint_status(push | {"commits": [{"added": ["README.md"]}]})
    assert sent_by_a_bot({"sender": {"login": "agent-orchestrator[bot]", "type": "Bot"}})
    assert not sent_by_a_bot({"sender": {"login": "maya", "type": "User"}})


class _Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url


def test_graphql_beside_the_rest_api():
    assert graphql_url(_Client("https://api.github.com")) == "https://api.github.com/graphql"  # type: ignore[arg-type]
    assert graphql_url(_Client("https://ghe.example/api/v3")) == "https://ghe.example/api/graphql"  # type: ignore[arg-type]
    assert graphql_url(_Client("http://127.0.0.1:5000")) == "http://127.0.0.1:5000/graphql"  # type: ignore[arg-type]


def test_the_status_issue_says_how_many_story_issues_are_still_to_come():
    note = render("project/board_event.md.j2", kind="progress", made=20, total=45)
    shown = body(Board("o/r", "implementation (sprint)", epics_of(parse(SPRINT)), note=note))
    assert "Story issues: 20 of 45 made; more follow." in shown
