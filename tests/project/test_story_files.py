"""A story file's status in each way people write it, where story files live, and the
disagreements with sprint-status.yaml (which wins: the sprint status, README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.project.sprint_status import parse
from bot.project.statuses import known
from bot.project.story_files import (
    disagreements,
    read_story_statuses,
    status_in,
    story_folder,
)
from tests.engine.conftest import install_path

FIXTURES = Path(__file__).parents[1] / "fixtures/sprint_status"


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("# Story 1.2: Logout\n\nStatus: review\n\n## Story\n", "review"),
        ("# Story 1.2\n\n**Status:** in-progress\n", "in-progress"),
        ("# Story\n\n- Status: Done (merged by Ana)\n", "Done"),
        ("# Story 1.2\n\n## Status\n\nready-for-dev\n\n## Tasks\n", "ready-for-dev"),
        ("## Status\n\n**In Progress** — since Monday\n", "In Progress"),
        ("| Field | Value |\n|---|---|\n| Status | `review` |\n| Owner | ana |\n", "review"),
        ("```yaml\nStatus: done\n```\n\nStatus: backlog\n", "backlog"),  # not in a fence
        ("# Story without one\n\nStatuses are discussed below.\n", None),
        ("## Status\n\n## Tasks\n", None),
    ],
)
def test_a_story_files_status_in_each_form(text, status):
    assert status_in(text) == status


def test_story_files_live_in_story_location_unless_it_names_another_machine():
    kept = parse((FIXTURES / "hand-kept.yaml").read_text())
    assert story_folder(kept, "impl") == "docs/stories"
    windows = parse((FIXTURES / "windows-legacy.yaml").read_text())
    assert story_folder(windows, "impl") == "impl"  # C:\Users\… is someone's laptop
    absolute = parse("story_location: /home/ada/stories\ndevelopment_status: {}\n")
    assert story_folder(absolute, "impl") == "impl"


def test_disagreements_between_story_files_and_the_sprint_status(tmp_path):
    sprint = parse((FIXTURES / "hand-kept.yaml").read_text())
    stories = tmp_path / "docs/stories"
    stories.mkdir(parents=True)
    (stories / "1-1-login.md").write_text("# Login\n\nStatus: done\n")  # Done: agrees
    (stories / "1-2-logout.md").write_text("# Logout\n\n## Status\n\nreview\n")  # in_progress
    (stories / "1-3-sso.md").write_text("| Status | cancelled |\n")  # as written: agrees
    (stories / "3-3-export.md").write_text("Status: backlog\n")  # deferred
    (stories / "3-2b-search-by-tag.md").write_text("# no status yet\n")
    found = disagreements(sprint, read_story_statuses(tmp_path, sprint, "docs/stories"))
    assert [(d.key, d.in_sprint_status, d.in_story_file, d.winner) for d in found] == [
        ("1-2-logout", "in_progress", "review", "in_progress"),
        ("3-3-export", "deferred", "backlog", "deferred"),
    ]
    assert found[0].path == "docs/stories/1-2-logout.md"


@pytest.mark.parametrize("version", ["6.0.0-alpha.22", "6.0.4"])
def test_bmads_own_story_template_states_its_status(version):
    template = install_path(version) / "_bmad/bmm/workflows/4-implementation/create-story"
    stated = status_in((template / "template.md").read_text())
    assert known(stated) == "ready-for-dev"
