"""More repositories as people really have them (issue 14): workflows shaped as real BMAD
versions wrote them: anchors and step ids as goto targets, `workflow.xml`'s protocols, step
files of one name in two folders, skills that hand over to their `workflow.md`."""

from __future__ import annotations

from bot.engine.loader import load
from tests.engine.test_messy_installs import ROOT_MANIFEST
from tests.engine.test_messy_repositories import bmad, write

ANCHORED = """\
<workflow>
  <step n="1" goal="Find the story">
    <check if="a story path is given">
      <goto anchor="task_check" />
    </check>
    <action>Find the next story</action>
    <anchor id="task_check" />
    <action>Parse the story's tasks</action>
    <check if="every task is done"><goto step="step_3" /></check>
  </step>
  <step n="2" goal="Implement"><action>Implement the next task, then GOTO step_3</action></step>
  <step n="3" id="step_3" goal="Finish"><action>Mark the story done</action></step>
</workflow>
"""


def test_anchors_and_step_ids_are_goto_targets(tmp_path):
    folder = "_bmad/bmm/workflows/make-notes"
    repo = bmad(tmp_path, **{f"{folder}/instructions.xml": ANCHORED})
    project = load(repo)
    workflow = project.workflow("make-notes")
    assert [(s.id, s.source.line) for s in workflow.steps] == [
        ("1", 2),
        ("task_check", 7),
        ("2", 11),
        ("3", 12),
    ]
    assert workflow.steps[1].instructions[0].text == "Parse the story's tasks"
    gotos = [i.target for s in workflow.steps for i in s.all_instructions() if i.kind == "goto"]
    assert gotos == ["task_check", "step_3", "step_3"]
    assert [workflow.goto_target(t).id for t in gotos] == ["task_check", "3", "3"]
    assert project.diagnostics == []


WORKFLOW_XML = """\
<task id="_bmad/core/tasks/workflow.xml" name="Execute Workflow">
  <flow>
    <step n="1" title="Load"><action>Load the workflow</action></step>
    <step n="2" title="Run"><invoke-protocol name="discover_inputs" /></step>
    <step n="3" title="Complete"><action>Confirm completion</action></step>
  </flow>
  <protocols>
    <protocol name="discover_inputs" desc="Find the input files">
      <flow>
        <step n="1" title="Parse patterns"><action>Read input_file_patterns</action></step>
        <step n="2" title="Load files"><action>Load each pattern's files</action></step>
      </flow>
    </protocol>
  </protocols>
</task>
"""


def test_a_protocols_steps_are_its_own_not_the_flows(tmp_path):
    repo = bmad(
        tmp_path,
        **{
            "_bmad/core/tasks/workflow.xml": WORKFLOW_XML,
            "_bmad/_config/manifest.yaml": ROOT_MANIFEST,
            "_bmad/_config/task-manifest.csv": "name,description,module,path\n"
            '"workflow","Execute Workflow","core","_bmad/core/tasks/workflow.xml"\n',
        },
    )
    project = load(repo)
    task = project.workflow("workflow")
    assert [s.id for s in task.steps] == ["1", "2", "3"]
    assert [i.text for s in task.steps for i in s.instructions][2] == "Confirm completion"
    assert not any("appears 2 times" in d.message for d in project.diagnostics)


def test_step_files_of_one_name_in_two_folders_are_two_steps(tmp_path):
    folder = "_bmad/bmm/workflows/edit-doc"
    repo = bmad(
        tmp_path,
        **{
            f"{folder}/workflow.md": "---\nname: edit-doc\ndescription: Edit, then validate\n"
            "---\n# Edit\nRead fully and follow: `./steps-e/step-01-load-target.md`\n",
            f"{folder}/steps-e/step-01-load-target.md": "---\nnextStepFile: './step-02-edit.md'"
            "\n---\n# Load the document to edit\n",
            f"{folder}/steps-e/step-02-edit.md": "---\n"
            "nextStepFile: '../steps-v/step-01-load-target.md'\n---\n# Edit it\n",
            f"{folder}/steps-v/step-01-load-target.md": "---\nnextStepFile: './step-02-check.md'"
            "\n---\n# Load the document to validate\n",
            f"{folder}/steps-v/step-02-check.md": "# Check it\n",
        },
    )
    project = load(repo)
    workflow = project.workflow("edit-doc")
    assert [(s.id, s.next, s.goal) for s in workflow.steps] == [
        ("steps-e/step-01-load-target", ("step-02-edit",), "Load the document to edit"),
        ("step-02-edit", ("steps-v/step-01-load-target",), "Edit it"),
        ("steps-v/step-01-load-target", ("step-02-check",), "Load the document to validate"),
        ("step-02-check", (), "Check it"),
    ]
    assert [d for d in project.diagnostics if "edit-doc" in d.source.path] == []


DELEGATING_SKILL = "---\nname: {name}\ndescription: '{description}'\n---\n\n" + (
    "Follow the instructions in ./workflow.md.\n"
)
STORY_WORKFLOW = """\
# Create Story Workflow

**Goal:** Create a story file.

<workflow>
  <step n="1" goal="Determine target story"><action>Read {sprint_status}</action></step>
  <step n="2" goal="Write the story">
    <template-output file="{default_output_file}">story</template-output>
  </step>
</workflow>
"""


def test_skills_that_hand_over_to_their_workflow_file_load_its_steps(tmp_path):
    skills = ".claude/skills"
    repo = write(
        tmp_path,
        {
            f"{skills}/bmad-create-story/SKILL.md": DELEGATING_SKILL.format(
                name="bmad-create-story", description="Creates a story file"
            ),
            f"{skills}/bmad-create-story/workflow.md": "---\nsprint_status: 'docs/sprint.yaml'\n"
            "default_output_file: 'docs/story.md'\n---\n" + STORY_WORKFLOW,
            f"{skills}/bmad-edit-prd/SKILL.md": DELEGATING_SKILL.format(
                name="bmad-edit-prd", description="Edit a PRD"
            ),
            f"{skills}/bmad-edit-prd/workflow.md": "# PRD Edit\n\n## Route\n"
            "Then read fully and follow: `./steps-e/step-e-01-discovery.md`\n",
            f"{skills}/bmad-edit-prd/steps-e/step-e-01-discovery.md": "---\n"
            "nextStepFile: './step-e-02-edit.md'\n---\n# Discovery\n",
            f"{skills}/bmad-edit-prd/steps-e/step-e-02-edit.md": "# Edit\n",
            # 6.5: the workflow's XML steps in SKILL.md itself
            f"{skills}/bmad-dev-story/SKILL.md": "---\nname: bmad-dev-story\ndescription: Dev"
            "\n---\n" + STORY_WORKFLOW,
        },
    )
    project = load(repo)
    story = project.workflow("bmad-create-story")
    assert (story.format, story.description) == ("skill", "Creates a story file")
    assert story.entry.path == f"{skills}/bmad-create-story/SKILL.md"
    assert [(s.id, s.goal) for s in story.steps] == [
        ("1", "Determine target story"),
        ("2", "Write the story"),
    ]
    assert project.variables["bmad-create-story"]["sprint_status"] == "docs/sprint.yaml"
    # the prose before the steps holds for every step, as a step-file skill's SKILL.md does
    assert [c.text for c in story.critical] == [
        "# Create Story Workflow\n\n**Goal:** Create a story file."
    ]
    edit = project.workflow("bmad-edit-prd")
    assert [s.id for s in edit.steps] == ["step-e-01-discovery", "step-e-02-edit"]
    dev = project.workflow("bmad-dev-story")
    assert [s.id for s in dev.steps] == ["1", "2"]
    assert project.errors == []
