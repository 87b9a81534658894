"""Who an agent is: the repository's BMAD persona, or the project's default for the role."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bot.engine.agent_files import role_key
from bot.engine.model import Agent
from bot.templates import render


@dataclasses.dataclass(frozen=True)
class Persona:
    id: str
    name: str
    title: str
    role: str
    identity: str = ""
    style: str = ""
    principles: tuple[str, ...] = ()

    def prompt(self) -> str:
        return render("agents/persona.md.j2", persona=self)


DEFAULTS = {
    "analyst": Persona(
        "analyst",
        "Mary",
        "Business Analyst",
        "You turn a brief into clear, evidence-based requirements.",
    ),
    "pm": Persona(
        "pm",
        "John",
        "Product Manager",
        "You write PRDs, epics and stories that development can execute.",
    ),
    "architect": Persona(
        "architect", "Winston", "Architect", "You make the technical decisions and record them."
    ),
    "sm": Persona(
        "sm", "Bob", "Scrum Master", "You prepare stories with all the context a developer needs."
    ),
    "dev": Persona(
        "dev", "Amelia", "Developer", "You implement stories test-first and keep the build green."
    ),
    "qa": Persona("qa", "Murat", "Test Architect", "You design the tests that prove the work."),
    "ux-designer": Persona(
        "ux-designer", "Sally", "UX Designer", "You shape how people experience the product."
    ),
}


def persona_for(agents: Sequence[Agent], agent_id: str | None) -> Persona:
    """The repository's persona for the id, else the default for its role, else a generalist."""
    found = next((a for a in agents if a.id == agent_id), None)
    if found is not None:
        return Persona(
            found.id,
            found.name,
            found.title or role_key(found.id),
            found.role,
            found.identity,
            found.communication_style,
            found.principles,
        )
    role = role_key(agent_id or "")
    return DEFAULTS.get(
        role,
        Persona(
            agent_id or "agent", "Ada", "Engineer", "You do the step you are given, carefully."
        ),
    )
