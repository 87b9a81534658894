"""The status issue's body: everything a team looks for, and inside GitHub's and Mermaid's
limits at 1,000 stories (collapsing hides, it does not shorten: large sprints show per-epic
counts with links)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.project.board import Board, epics_of
from bot.project.mermaid import MAX_CHARS, MAX_EDGES, STORY_LIMIT, diagram, within_limits
from bot.project.sprint_status import parse
from bot.project.status_issue import LIST_STORY_LIMIT, MARK, MAX_BODY, body
from bot.project.story_files import Disagreement
from tests.project.sprints import SLUG, board

FIXTURES = Path(__file__).parents[1] / "fixtures/sprint_status"


def mermaid_of(text: str) -> str:
    return text.split("```mermaid\n", 1)[1].split("\n```", 1)[0]


def test_a_small_sprint_lists_every_story_collapsed_per_epic():
    small = board(3, 5)
    text = body(small)
    assert text.startswith("## Agent Orchestrator status") and text.endswith(MARK)
    assert "**Phase:** implementation · **Progress:** 4 of 15 stories done (27%)" in text
    assert "**Cost:** $12.50 of $40.00 budget (31%)" in text
    assert "| Amelia | `dev-story` | [`1-1-" in text  # agents at work, on what
    assert "- [Which database for the reminders?](https://github.com/" in text
    assert text.count("<details>") == 3 and text.count("</details>") == 3
    for story in small.stories:
        assert f"[`{story.key}`]({story.url})" in text  # every story, with its link
    assert "- **cancelled**: " in text  # a status BMAD lacks, shown as written
    events = re.findall(r"^- 10:(\d\d) — ", text, re.MULTILINE)
    assert events == [str(m) for m in range(39, 29, -1)]  # the last ten, newest first
    source = mermaid_of(text)
    assert source.count(" --> ") == 15 and "classDef done fill:#1f883d" in source


def test_a_thousand_stories_fit_as_per_epic_counts_with_links():
    large = board(100, 10)
    text = body(large)
    assert len(large.stories) == 1000 > LIST_STORY_LIMIT
    assert len(text) < MAX_BODY
    stories = text.split("### Stories", 1)[1].split("### Map", 1)[0]
    assert "<details>" not in text and SLUG not in stories  # counts, not the stories
    assert "1000 stories in 100 epics" in text
    for epic in large.epics:
        assert f"| [`{epic.key}`]({epic.url}) | in-progress | {epic.done}/10 |" in text
    source = mermaid_of(text)
    assert within_limits(source) and source.startswith("flowchart TB")
    assert source.count('["epic-') == 100 and SLUG not in source  # epics alone


def test_the_diagram_stays_within_mermaids_defaults_up_to_its_story_limit():
    per_epic = STORY_LIMIT // 20
    source = diagram(board(20, per_epic))  # the most stories that still get their own nodes
    assert source.count(" --> ") == STORY_LIMIT <= MAX_EDGES
    assert len(source) <= MAX_CHARS and within_limits(source)
    assert diagram(board(20, per_epic + 1)).count(" --> ") == 0  # past it: epics only


def test_a_list_or_a_table_that_would_not_fit_is_shortened_saying_so(monkeypatch):
    from bot.project import status_issue

    monkeypatch.setattr(status_issue, "LIST_STORY_LIMIT", 10_000)
    text = body(board(100, 10))  # the full list would be about 110,000 characters
    assert len(text) < MAX_BODY and "<details>" not in text and "1000 stories in 100" in text
    many = body(board(2_000, 1))  # even one row per epic is too long: rows are cut
    assert len(many) < MAX_BODY and re.search(r"… and \d+ more epics\.", many)
    assert within_limits(mermaid_of(many)) and 'more epics"]' in mermaid_of(many)


def test_epics_of_a_messy_file_and_its_disagreements_are_shown():
    sprint = parse((FIXTURES / "hand-kept.yaml").read_text())
    epics = epics_of(sprint, file_url="https://github.com/o/r/blob/main/s.yaml")
    assert [e.key for e in epics] == ["epic-1", "epic-2.5", "epic-3", "epic-5h"]
    assert [s.key for s in epics[-1].stories] == ["5h-1-harvest-plan", "5-cp11-checkpoint-eleven"]
    assert epics[0].stories[0].url == "https://github.com/o/r/blob/main/s.yaml#L15"
    assert epics[-1].retrospective == "optional"
    problem = Disagreement("1-2-logout", "in_progress", "review", "docs/stories/1-2-logout.md")
    text = body(Board("o/r", "implementation", epics, disagreements=(problem,)))
    assert "| `1-2-logout` | `in_progress` | `review` in `docs/stories/1-2-logout.md` |" in text
    assert "No agent is at work." in text and "(no budget set)" in text
