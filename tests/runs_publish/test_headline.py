"""A workflow's question as people read it in titles and decision logs."""

from __future__ import annotations

from bot.runs.publish import headline


def test_a_question_reads_as_one_line_without_the_workflows_markup():
    menu = (
        "## MENU\n\nWhere does the list live?\n[1] In each directory\n[2] At home\nHALT and wait."
    )
    assert headline(menu) == "Where does the list live? [1] In each directory [2] At home"
    assert headline(menu, options=False) == "Where does the list live?"
    assert headline("[A] Advanced\n[P] Party mode", options=False) == "[A] Advanced [P] Party mode"
    assert headline("## MENU") == "## MENU"  # nothing else to show: as it is
