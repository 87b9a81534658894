"""The one writer of sprint-status.yaml on messy real-world files: read as written, one
status changed, written, and diffed to show that only the intended line changed; files that
may not be written are refused with the parser's message and line, and left alone."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from bot.project.location import sprint_status_path
from bot.project.sprint_edit import Change, EditNotVerified, apply, change_file, read
from bot.project.sprint_status import SprintStatusError, parse
from tests.engine.conftest import install_path

FIXTURES = Path(__file__).parents[1] / "fixtures/sprint_status"

#: For each fixture: a change, the line before it and the line after it.
ONE_CHANGE = {
    "bmad-generated.yaml": (
        Change("1-2-account-management", "in-progress"),
        "  1-2-account-management: ready-for-dev",
        "  1-2-account-management: in-progress",
    ),
    "hand-kept.yaml": (
        Change("3-2a-search-by-name", "review"),
        "  3-2a-search-by-name: 'in-progress'  # split story (a)",
        "  3-2a-search-by-name: 'review'  # split story (a)",
    ),
    "flow-maps.yaml": (
        Change("1-1-intake", "done"),
        '  1-1-intake: {status: review, owner: "Ana Pérez", pr: 12}   # en revisión',
        '  1-1-intake: {status: done, owner: "Ana Pérez", pr: 12}   # en revisión',
    ),
    "windows-legacy.yaml": (
        Change("1-1-import", "in-progress"),
        "  1-1-import: drafted",
        "  1-1-import: in-progress",
    ),
}


def diff(before: str, after: str) -> list[str]:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in lines if line[:1] in "+-" and line[:3] not in ("+++", "---")]


@pytest.mark.parametrize("name", sorted(ONE_CHANGE))
def test_one_change_to_a_messy_file_changes_only_its_line(name, tmp_path):
    change, old, new = ONE_CHANGE[name]
    path = tmp_path / name
    shutil.copy(FIXTURES / name, path)
    before = read(path)
    [outcome] = change_file(path, [change])
    assert outcome.written, outcome.reason
    assert diff(before, read(path)) == [f"-{old}", f"+{new}"]
    assert parse(read(path)).entries[change.key].status == change.status


def test_crlf_endings_and_a_byte_order_mark_are_kept(tmp_path):
    text = "\ufeff" + (FIXTURES / "bmad-generated.yaml").read_text().replace("\n", "\r\n")
    path = tmp_path / "sprint-status.yaml"
    path.write_bytes(text.encode())
    change_file(path, [Change("1-3-plant-data-model", "ready-for-dev")])
    after = path.read_bytes().decode()
    assert after == text.replace(
        "1-3-plant-data-model: backlog\r\n", "1-3-plant-data-model: ready-for-dev\r\n"
    )


def test_statuses_and_keys_outside_bmad_are_read_as_written():
    sprint = parse((FIXTURES / "hand-kept.yaml").read_text())
    shown = {e.key: (e.status, e.known, e.kind) for e in sprint}
    assert shown["1-1-login"] == ("Done", "done", "story")  # a variant, mapped for reading
    assert shown["1-2-logout"] == ("in_progress", "in-progress", "story")
    for key, status in [
        ("1-3-sso", "cancelled"),
        ("1-4-audit", "done-parcial"),
        ("2.5-1-hotfix-login", "merged"),
        ("3-1-catalogue", "superseded"),
        ("3-3-export", "deferred"),
    ]:
        assert shown[key] == (status, None, "story")  # unknown: kept and shown as written
    assert shown["epic-2.5"][2] == shown["epic-5h"][2] == "epic"
    assert shown["5-cp11-checkpoint-eleven"][2] == "story"
    assert shown["epic-5h-retrospective"] == ("optional", "optional", "retrospective")
    assert sprint.settings["tracking_system"] == "both"
    assert sprint.settings["last_reviewed_by"] == "María José"


def test_flow_maps_legacy_statuses_and_odd_locations_are_read():
    flow = parse((FIXTURES / "flow-maps.yaml").read_text())
    assert flow.entries["1-2-routing"].status == "ready-for-dev"
    assert dict(flow.entries["1-1-intake"].fields) == {"owner": "Ana Pérez", "pr": "12"}
    assert flow.entries["1-3-billing"].status == "backlog"  # a block mapping
    assert flow.entries["1-4-empty"].status is None
    legacy = parse((FIXTURES / "windows-legacy.yaml").read_text())
    assert [e.known for e in legacy] == ["in-progress", "ready-for-dev", "in-progress", "backlog"]
    assert legacy.settings["story_location"].startswith("C:\\Users")


def test_a_block_mapping_status_and_a_batch_are_edited_in_place():
    text = (FIXTURES / "flow-maps.yaml").read_text()
    edited, outcomes = apply(
        text,
        [
            Change("1-3-billing", "ready-for-dev"),
            Change("1-3-billing", "in-progress"),  # a burst: the later one sees the earlier
            Change("1-2-routing", "in-progress"),
        ],
    )
    assert [o.written for o in outcomes] == [True, True, True]
    assert diff(text, edited) == [
        "-  1-2-routing: {owner: bo, status: ready-for-dev}",
        "+  1-2-routing: {owner: bo, status: in-progress}",
        "-    status: backlog",
        "+    status: in-progress",
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (Change("1-1-login", "review"), "never moves 1-1-login backwards"),  # Done → review
        (Change("1-3-sso", "in-progress"), "only a person changes it"),  # cancelled
        (Change("3-2b-search-by-tag", "blocked"), "blocked is not a BMAD status"),
        (Change("3-2b-search-by-tag", "started"), "not a BMAD status for this story"),
        (Change("9-9-nowhere", "done"), "not in development_status"),
        (Change("1-1-login", "done"), "'Done' already"),  # a person's spelling stays
        (Change("3-2b-search-by-tag", "review", seen="backlog"), "since 'backlog' was read"),
    ],
)
def test_what_the_bot_does_not_write(change, reason):
    text = (FIXTURES / "hand-kept.yaml").read_text()
    edited, [outcome] = apply(text, [change])
    assert edited == text and not outcome.written and reason in outcome.reason


def test_a_person_may_move_a_story_backwards_or_out_of_an_unknown_status():
    text = (FIXTURES / "hand-kept.yaml").read_text()
    changes = [
        Change("1-1-login", "review", by="person"),
        Change("1-3-sso", "backlog", by="person"),
    ]
    edited, outcomes = apply(text, changes)
    assert all(o.written for o in outcomes)
    assert diff(text, edited) == [
        "-  1-1-login: Done",
        "+  1-1-login: review",
        "-  1-3-sso: cancelled # decided against SSO",
        "+  1-3-sso: backlog # decided against SSO",
    ]


@pytest.mark.parametrize(
    ("name", "reason", "line", "words"),
    [
        ("tab-indented.yaml", "yaml", 3, "tab character that violates indentation"),
        ("unclosed-quote.yaml", "yaml", 6, "found unexpected end of stream"),
        ("duplicate-keys.yaml", "duplicate-key", 5, "duplicate key '1-1-login'"),
        ("no-development-status.yaml", "no-development-status", None, "no development_status"),
        ("two-documents.yaml", "yaml", 3, "expected a single document"),
    ],
)
def test_a_file_that_may_not_be_written_is_refused_and_left_alone(
    name, reason, line, words, tmp_path
):
    path = tmp_path / name
    shutil.copy(FIXTURES / "invalid" / name, path)
    before = path.read_bytes()
    with pytest.raises(SprintStatusError) as raised:
        change_file(path, [Change("1-1-login", "done")])
    assert (raised.value.reason, raised.value.line) == (reason, line)
    assert words in raised.value.problem and str(path) in str(raised.value)
    assert path.read_bytes() == before


def test_an_edit_that_would_change_more_than_asked_is_not_written(monkeypatch):
    from bot.project import sprint_edit

    text = (FIXTURES / "bmad-generated.yaml").read_text()
    monkeypatch.setattr(sprint_edit, "_edit", lambda current, wanted: text.replace("done", "x"))
    with pytest.raises(EditNotVerified, match="changed more than asked"):
        apply(text, [Change("1-3-plant-data-model", "ready-for-dev")])


@pytest.mark.parametrize("version", ["6.0.0-alpha.22", "6.0.4", "6.12.0"])
def test_the_file_is_where_the_install_configures_it(version):
    expected = "_bmad-output/implementation-artifacts/sprint-status.yaml"
    assert sprint_status_path(install_path(version)) == expected


def test_a_customised_location_and_a_windows_config_are_followed(tmp_path):
    (tmp_path / "_bmad/core").mkdir(parents=True)
    (tmp_path / "_bmad/bmm").mkdir(parents=True)
    (tmp_path / "_bmad/core/config.yaml").write_text("output_folder: out\n")
    (tmp_path / "_bmad/bmm/config.yaml").write_text(
        "implementation_artifacts: '{project-root}\\\\docs\\\\sprint'\n"
    )
    assert sprint_status_path(tmp_path) == "docs/sprint/sprint-status.yaml"
    variables = {"sprint_status": f"{tmp_path}/plans/status.yaml"}
    assert sprint_status_path(tmp_path, variables) == "plans/status.yaml"


def test_a_file_that_is_not_utf8_is_refused_not_re_encoded(tmp_path):
    path = tmp_path / "sprint-status.yaml"
    path.write_bytes("development_status:\n  1-1-login: review  # año\n".encode("latin-1"))
    with pytest.raises(SprintStatusError) as raised:
        change_file(path, [Change("1-1-login", "done")])
    assert (raised.value.reason, raised.value.line) == ("encoding", 2)
    assert path.read_bytes().endswith("año\n".encode("latin-1"))


@pytest.mark.parametrize("name", sorted(ONE_CHANGE))
def test_any_status_in_a_messy_file_changes_alone(name):
    """Every key of every fixture, moved by a person to another status: one line each."""
    text = (FIXTURES / name).read_text()
    for entry in parse(text):
        if entry.span is None:
            continue
        target = "done" if entry.known != "done" else "backlog"
        edited, [outcome] = apply(text, [Change(entry.key, target, by="person")])
        assert outcome.written, (entry.key, outcome.reason)
        [old, new] = diff(text, edited)
        line = text[: entry.span.start].count("\n")  # a block mapping's status: its own line
        assert old[1:] == text.splitlines()[line]
        assert new[1:] == old[1:].replace(entry.status or "", target, 1)
