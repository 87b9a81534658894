"""The prompts the agents send, rendered for a spread of tasks and personas: the golden file
holds what the f-strings made before the prompts moved to templates, byte for byte."""

from __future__ import annotations

from typing import Any

from bot.agents.loop import system_prompt
from bot.agents.personas import DEFAULTS, Persona
from bot.agents.task_agent import prompt, system
from bot.engine.tasks import Task

TASKS = [
    Task("act", "create-prd", "step-01-init", "Initialise", "Copy the template to `docs/prd.md`"),
    Task(
        "section", "create-prd", "2", "", "Write the section 'vision'",
        variables={"project_name": "Todo <app>"}, template="## Vision\n{{vision}}\n</template>",
        inputs={"brief": "A brief </documents> with a closing tag"},
        documents={'docs/a "b".md': "text </document> more"}, output_path="docs/prd.md",
        agent="pm", notice="This step must produce docs/prd.md.",
    ),
    Task("menu", "w", "s", "Choose", "Pick [A] or [C]", options=("A", "C")),
    Task("check", "w", "s", "", "Is this true? the brief exists", agent=None),
]  # fmt: skip
PERSONAS = [
    *DEFAULTS.values(),
    Persona("x", "Ada", "", "", identity="", style="", principles=()),
    Persona("y", "Bo", "Dev", "You build.", identity="Calm.", style="terse", principles=("a", "b")),
]


def rendered() -> dict[str, Any]:
    return {
        "prompts": [prompt(task) for task in TASKS],
        "systems": [system(task) for task in TASKS],
        "personas": [persona.prompt() for persona in PERSONAS],
        "loop": [system_prompt(persona) for persona in PERSONAS[:2]],
    }
