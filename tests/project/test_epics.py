"""An epic's status moved by its stories, and the retrospectives due (pure)."""

from __future__ import annotations

from bot.project.epics import epic_views, finished, retrospectives_due, started
from bot.project.sprint_edit import Change, apply
from bot.project.sprint_status import parse

SPRINT = """development_status:
  epic-1: backlog
  1-1-subtract: ready-for-dev
  1-2-multiply: done
  epic-1-retrospective: optional
  epic-2: cancelled  # a person's
  2-1-divide: review
  epic-2-retro: optional
  epic-3: in-progress
  3-1-power: done
"""


def test_each_epic_has_its_stories_and_its_retrospective():
    views = {v.key: v for v in epic_views(parse(SPRINT))}
    assert views["epic-1"].stories == ("1-1-subtract", "1-2-multiply")
    assert (views["epic-1"].retrospective, views["epic-1"].retrospective_status) == (
        "epic-1-retrospective", "optional")  # fmt: skip
    assert views["epic-2"].retrospective == "epic-2-retro"
    assert views["epic-3"].retrospective is None


def test_an_epic_starts_with_its_first_story_and_ends_with_its_last():
    sprint = parse(SPRINT)
    epics, statuses = epic_views(sprint), {e.key: e.status for e in sprint.stories()}
    assert started(epics, "1-1-subtract") == [Change("epic-1", "in-progress", seen="backlog")]
    assert finished(epics, statuses, "1-1-subtract") == [Change("epic-1", "done", seen="backlog")]
    assert started(epics, "3-1-power") == []  # under way already
    assert finished(epics, {**statuses, "1-2-multiply": "review"}, "1-1-subtract") == []
    assert started(epics, "2-1-divide") == [] and finished(epics, statuses, "2-1-divide") == []
    text, outcomes = apply(SPRINT, [Change("1-1-subtract", "done"),
                                    *finished(epics, statuses, "1-1-subtract")])  # fmt: skip
    assert "epic-1: done" in text and all(o.written for o in outcomes)
    assert "epic-2: cancelled  # a person's" in text


def test_a_retrospective_is_due_once_every_story_of_its_epic_is_done():
    sprint = parse(SPRINT.replace("1-1-subtract: ready-for-dev", "1-1-subtract: done"))
    statuses = {e.key: e.status for e in sprint.stories()}
    assert [e.key for e in retrospectives_due(epic_views(sprint), statuses)] == ["epic-1"]
    done = parse(
        sprint.text.replace("epic-1-retrospective: optional", "epic-1-retrospective: done")
    )
    assert retrospectives_due(epic_views(done), statuses) == []
    cancelled = parse(sprint.text.replace("2-1-divide: review", "2-1-divide: done"))
    statuses = {e.key: e.status for e in cancelled.stories()}
    assert [e.key for e in retrospectives_due(epic_views(cancelled), statuses)] == ["epic-1"]
