"""The order of stories: dependencies read from story files and epics, a cycle reported,
the stories started up to the limit, merges of stories touching the same files in turn."""

from __future__ import annotations

from bot.stories.order import (
    DependencyCycle,
    Schedule,
    find_cycle,
    merge_turns,
    now_ready,
    read_dependencies,
    references,
    schedule,
)

KEYS = ["1-1-add", "1-2-subtract", "1-3-multiply", "2-1-report"]
EPICS = """# Epics

## Epic 1: Arithmetic

### Story 1.1: Add

As a user...

### Story 1.3: Multiply

**Depends on:** Story 1.1

## Epic 2: Reports

### Story 2.1: Report

- Dependencies: 1.2, 1.3, 9.9 (not in this sprint)
"""


def test_dependencies_come_from_story_files_and_the_epics(tmp_path):
    stories = tmp_path / "docs/stories"
    stories.mkdir(parents=True)
    (tmp_path / "docs/epics.md").write_text(EPICS)
    (stories / "1-2-subtract.md").write_text("# Story 1.2: Subtract\n\nDepends on: 1-1\n")
    (stories / "1-1-add.md").write_text("# Story 1.1: Add\n\nNo dependencies here (1-3).\n")
    assert references("Requires: 1-1 and 2.3\nSee 4-4") == ["1-1", "2-3"]
    assert read_dependencies(tmp_path, KEYS) == {
        "1-1-add": (),
        "1-2-subtract": ("1-1-add",),
        "1-3-multiply": ("1-1-add",),
        "2-1-report": ("1-2-subtract", "1-3-multiply"),
    }


def test_stories_start_when_their_dependencies_are_done_up_to_the_limit():
    deps = {"1-1-add": (), "1-2-subtract": ("1-1-add",), "1-3-multiply": (), "2-1-report": ()}
    statuses = dict.fromkeys(KEYS, "ready-for-dev")
    first = schedule(statuses, deps, running=(), limit=2)
    assert first == Schedule(("1-1-add", "1-3-multiply"), {"1-2-subtract": ("1-1-add",)})
    # One running, a limit of two: one more starts.
    assert schedule(statuses, deps, running=("1-1-add",), limit=2).start == ("1-3-multiply",)
    statuses |= {"1-1-add": "done", "1-3-multiply": "review"}
    assert schedule(statuses, deps, running=(), limit=5).start == ("1-2-subtract", "2-1-report")


def test_a_cycle_is_a_typed_result_never_a_hang():
    deps = {"1-1-a": ("1-3-c",), "1-2-b": ("1-1-a",), "1-3-c": ("1-2-b",), "1-4-d": ()}
    found = schedule(dict.fromkeys(deps, "ready-for-dev"), deps, running=(), limit=4)
    assert isinstance(found, DependencyCycle)
    assert found.text() == "1-1-a → 1-3-c → 1-2-b → 1-1-a"
    assert find_cycle({"1-1-a": ("1-1-a",)}) == DependencyCycle(("1-1-a", "1-1-a"))
    # A long chain is no cycle, and is walked without recursion.
    chain = {f"1-{n}-s": (f"1-{n + 1}-s",) for n in range(1, 5000)}
    assert find_cycle(chain) is None


def test_dependants_become_ready_when_all_their_dependencies_are_done():
    deps = {"1-2-b": ("1-1-a",), "1-3-c": ("1-1-a", "1-2-b"), "1-4-d": ("1-1-a",)}
    statuses = {"1-1-a": "review", "1-2-b": "backlog", "1-3-c": "backlog", "1-4-d": "in-progress"}
    assert now_ready(statuses, deps, "1-1-a") == ["1-2-b"]


def test_stories_touching_the_same_files_merge_one_after_the_other():
    ready = {
        "1-2-b": {"calc/ops.py", "tests/test_b.py"},
        "1-1-a": {"calc/ops.py"},
        "1-3-c": {"calc/report.py"},
    }
    assert merge_turns(ready) == ["1-1-a", "1-3-c"]
    del ready["1-1-a"]
    assert merge_turns(ready) == ["1-2-b", "1-3-c"]
