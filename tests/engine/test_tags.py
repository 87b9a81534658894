"""BMAD's XML-tag instructions are rarely well-formed XML; the reader takes them as they are."""

from __future__ import annotations

from bot.engine.tags import read_instructions
from bot.engine.variables import expand, resolve


def kinds(step):
    return [(i.kind, i.target or i.condition or i.text) for i in step.instructions]


def test_markdown_between_tags_unclosed_tags_and_odd_step_ids():
    text = """# Instructions

Some **markdown** first.

<workflow>
<critical>Never skip a step</critical>
<step n="0.5" goal="Prepare">
  <action>Load {{story_path}}</action>
  <action if="no story">HALT - nothing to do</action>
<step n="1a" goal="Write" optional="true">
  <output>Writing <b>now</b></output>
  <goto step="0.5">again</goto>
  <action>Go to step 1a when done</action>
</step>
</workflow>
"""
    parsed = read_instructions(text, "x/instructions.md")
    assert [(s.id, s.goal) for s in parsed.steps] == [("0.5", "Prepare"), ("1a", "Write")]
    assert parsed.steps[1].attrs == {"optional": "true"}
    assert [c.text for c in parsed.critical] == ["Never skip a step"]
    assert kinds(parsed.steps[0]) == [("act", "Load {{story_path}}"), ("halt", "no story")]
    assert kinds(parsed.steps[1]) == [
        ("output", "Writing <b>now</b>"),
        ("goto", "0.5"),
        ("goto", "1a"),
    ]
    assert parsed.steps[1].instructions[0].source.line == 11


def test_checks_nest_and_substeps_are_reachable_by_id():
    text = """<workflow><step n="1" goal="g">
<check if="a">
  <check if="b"><ask>Which?</ask></check>
  <action>GOTO step 1b</action>
</check>
<substep n="1b" title="inner"><template-output file="out.md">summary</template-output></substep>
<invoke-workflow path="{project-root}/_bmad/x/workflow.yaml" />
<invoke-protocol name="discover_inputs" />
</step></workflow>"""
    parsed = read_instructions(text, "i.xml")
    [step] = parsed.steps
    outer = step.instructions[0]
    assert outer.kind == "check" and outer.condition == "a"
    assert [(c.kind, c.condition or c.target) for c in outer.children] == [
        ("check", "b"),
        ("goto", "1b"),
    ]
    assert outer.children[0].children[0].kind == "ask"
    assert [(i.kind, i.target) for i in step.instructions[1:]] == [
        ("template-output", "out.md"),
        ("invoke", "{project-root}/_bmad/x/workflow.yaml"),
        ("invoke", "discover_inputs"),
    ]
    assert parsed.aliases == {"1b": "1"}


def test_a_script_tag_in_text_does_not_swallow_the_rest():
    text = (
        '<step n="1"><action>Escape <script> tags</action></step>'
        '<step n="2"><action>x</action></step>'
    )
    assert [s.id for s in read_instructions(text, "i.xml").steps] == ["1", "2"]


def test_nothing_in_a_file_crashes_the_reader():
    for text in [
        "",
        "<",
        "</step>",
        "<step",
        "<<<>>>",
        "\x00\xff",
        "<step n='1'>" * 500,
        "<check if='x'>" + "</check>" * 10,
    ]:
        read_instructions(text, "i.xml")


def test_placeholders_are_left_for_the_agent_and_never_fail():
    values = {"project-root": "/repo", "user_name": "Ada", "current_year": "2026"}
    assert (
        expand("{{current_year}} by {user_name} and {{unknown}}", values)
        == "{{current_year}} by Ada and {{unknown}}"
    )
    assert expand("{{current_year}} {{ .user_name }}", values, placeholders=True) == "2026 Ada"
    assert expand("{unknown}/x", values) == "{unknown}/x"


def test_variables_referring_to_each_other_and_in_cycles():
    resolved = resolve(
        {
            "a": "{b}/a",
            "b": "{project-root}/b",
            "loop": "{loop}/again",
            "x": "{y}",
            "y": "{x}",
            "who": "{config_source}:user_name",
            "when": "system-generated",
        },
        {"user_name": "Ada"},
        {"project-root": "/repo", "date": "2026-11-24"},
    )
    assert resolved["a"] == "/repo/b/a"
    assert resolved["loop"] == "{loop}/again"
    assert {resolved["x"], resolved["y"]} <= {"{x}", "{y}"}
    assert resolved["who"] == "Ada" and resolved["when"] == "2026-11-24"


def test_a_wide_expansion_is_stopped_before_it_is_built():
    """One value naming a long one 50,000 times would be 4.5 GB: it is stopped at the bound,
    left as written and named, and expanding text with it stays bounded too."""
    declared = {"v0": "x" * 90_000, "v1": "{v0}" * 50_000, "v2": "{v0}{v0}"}
    oversized: set[str] = set()
    values = resolve(declared, {}, {}, oversized=oversized)
    assert oversized == {"v1", "v2"}
    assert values["v1"] == declared["v1"] and values["v0"] == declared["v0"]
    text = expand("{v1} " * 10 + "{{v0}}" * 20, values, placeholders=True)
    assert len(text) < 3_000_000  # each pass adds at most 1,000,000 characters
