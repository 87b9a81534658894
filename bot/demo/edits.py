"""The developer's edits for the demo's three stories, scripted: a rule-based model cannot
write code. The orchestrator does everything around them as it does for a language model's
edits (the worktree, the sandboxed test runs, commits, the push, the pull request, labels, the
review, the merge). Story 1.1's first attempt has a bug its tests catch; the failing output
goes back to the model, whose second attempt fixes it."""

from __future__ import annotations

from bot.localmodel.stories import StoryScripts, Turn

ADD = '''"""`todo add TEXT`: a new open item."""

from __future__ import annotations

import sys

from todo.store import OPEN


def run(items: list[str], args: list[str]) -> int:
    if not args:
        print("usage: todo add TEXT", file=sys.stderr)
        return 2
    items.append({item})
    return 0
'''

TEST_ADD = """from pathlib import Path

from tests.support import InAFreshDirectory


class Add(InAFreshDirectory):
    # AC1
    def test_an_added_item_is_an_open_line_of_the_list(self):
        self.assertEqual(self.todo("add", "write", "the", "brief")[0], 0)
        self.assertEqual(Path("TODO.txt").read_text(), "[ ] write the brief\\n")

    # AC2
    def test_no_text_is_an_error_with_the_usage(self):
        code, _, err = self.todo("add")
        self.assertEqual(code, 2)
        self.assertIn("usage: todo add TEXT", err)
"""

DONE = '''"""`todo done N`: item N marked done."""

from __future__ import annotations

import sys

from todo.store import DONE, OPEN


def run(items: list[str], args: list[str]) -> int:
    wanted = args[0] if len(args) == 1 else " ".join(args)
    if not wanted.isdigit() or not 1 <= int(wanted) <= len(items):
        print(f"todo done: there is no item {wanted or 'given'}", file=sys.stderr)
        return 1
    item = items[int(wanted) - 1]
    items[int(wanted) - 1] = DONE + item.removeprefix(OPEN).removeprefix(DONE)
    return 0
'''

TEST_DONE = """from pathlib import Path

from tests.support import InAFreshDirectory


class Done(InAFreshDirectory):
    def setUp(self):
        super().setUp()
        Path("TODO.txt").write_text("[ ] write the brief\\n[ ] plan the release\\n")

    # AC1
    def test_item_n_is_marked_done(self):
        self.assertEqual(self.todo("done", "2")[0], 0)
        self.assertEqual(
            Path("TODO.txt").read_text(), "[ ] write the brief\\n[x] plan the release\\n"
        )

    # AC2
    def test_an_unknown_item_is_an_error_and_changes_nothing(self):
        code, _, err = self.todo("done", "7")
        self.assertEqual(code, 1)
        self.assertIn("there is no item 7", err)
        self.assertEqual(
            Path("TODO.txt").read_text(), "[ ] write the brief\\n[ ] plan the release\\n"
        )
"""

LIST = '''"""`todo list`: the open items, with their numbers."""

from __future__ import annotations

from todo.store import OPEN


def run(items: list[str], args: list[str]) -> int:
    for number, item in enumerate(items, 1):
        if item.startswith(OPEN):
            print(number, item.removeprefix(OPEN))
    return 0
'''

TEST_LIST = """from pathlib import Path

from tests.support import InAFreshDirectory


class List(InAFreshDirectory):
    def setUp(self):
        super().setUp()
        Path("TODO.txt").write_text("[ ] write the brief\\n[x] plan it\\n[ ] ship it\\n")

    # AC1 AC2
    def test_open_items_are_listed_with_their_numbers_and_done_ones_are_not(self):
        code, out, _ = self.todo("list")
        self.assertEqual(code, 0)
        self.assertEqual(out, "1 write the brief\\n3 ship it\\n")
"""


def _turn(command: str, code: str, test: str, summary: str) -> Turn:
    return [
        ("write_file", {"path": f"todo/commands/{command}.py", "content": code}),
        ("write_file", {"path": f"tests/test_{command}.py", "content": test}),
        ("done", {"summary": summary}),
    ]


def scripts() -> StoryScripts:
    """The three stories' turns, attempt by attempt (a fresh copy: reviews are consumed)."""
    first_add = _turn(
        "add", ADD.format(item='" ".join(args)'), TEST_ADD, "todo add appends the text"
    )
    fixed = ADD.format(item='OPEN + " ".join(args)')
    fixed_add: Turn = [
        ("write_file", {"path": "todo/commands/add.py", "content": fixed}),
        ("done", {"summary": "an added item is an open item: `[ ] TEXT`"}),
    ]
    return StoryScripts(
        turns={
            "1-1-add-an-item": [first_add, fixed_add],
            "1-2-mark-an-item-done": [
                _turn("done", DONE, TEST_DONE, "todo done N marks item N done")
            ],
            "1-3-list-open-items": [
                _turn("list", LIST, TEST_LIST, "todo list shows the open items")
            ],
        },
        reviews={
            "1-2-mark-an-item-done": [
                {
                    "summary": "The command does what the story asks; one small note.",
                    "findings": [
                        {
                            "path": "todo/commands/done.py",
                            "line": 16,
                            "severity": "low",
                            "body": "An item marked done twice stays done: worth a test later.",
                        }
                    ],
                }
            ]
        },
    )
