"""Rewrite the golden summaries after a deliberate change: `python -m tests.engine.make_golden`.

Review the diff by hand against the BMAD files before committing it: the goldens are the
hand-checked record of what the loader must read.
"""

import json
from pathlib import Path

from bot.engine.loader import load
from tests.engine.conftest import install_path
from tests.engine.summaries import summarize

PICKS = {
    "6.0.4": ["create-story", "sprint-planning", "create-prd", "create-architecture", "dev-story"],
    "6.12.0": [
        "bmad-create-epics-and-stories",
        "bmad-prd",
        "bmad-code-review",
        "bmad-correct-course",
    ],
    "6.0.0-alpha.22": ["create-story", "workflow-status"],
}


def main() -> None:
    for version, names in PICKS.items():
        project = load(install_path(version))
        for name in names:
            workflow = project.workflow(name)
            out = Path(__file__).parent / "golden" / f"{version}--{name}.json"
            out.write_text(json.dumps(summarize(workflow), indent=1) + "\n")
            print(out, len(workflow.steps))


if __name__ == "__main__":
    main()
