"""Who develops a story: the persona that owns the install's dev-story workflow (else the
default developer), its model from `.github/orchestrator.yml`, the workflow's critical rules,
and the confinement of the story's worktree."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.agents.config import AgentsConfig
from bot.agents.decisions import Decider
from bot.agents.personas import persona_for
from bot.engine.confine import Confinement, confinement_for
from bot.engine.loader import Project, load
from bot.engine.model import Workflow
from bot.llm.factory import make_client, price_file
from bot.llm.ledger import CostLedger
from bot.llm.metered import Metered
from bot.llm.pricing import PriceTable
from bot.llm.window import operator_window
from bot.sandbox.runner import Sandbox
from bot.stories.develop import Developer

#: The developer's workflow by the names BMAD's generations give it, most specific first.
DEV_WORKFLOWS = ("dev-story", "bmad-dev-story", "bmad-build-auto", "bmad-build")


@dataclasses.dataclass(frozen=True, slots=True)
class Means:
    """What the story's work runs on: models (by spec; None for the default) and the sandbox.
    `llm_for` refuses (LLMError) a model the operator does not allow, as the runs' does."""

    llm_for: Callable[[str | None], Metered]
    sandbox: Sandbox


def dev_workflow(project: Project) -> Workflow | None:
    for name in DEV_WORKFLOWS:
        found = project.workflow(name)
        if found is not None:
            return found
    return None


async def developer(
    worktree: Path, config: AgentsConfig, means: Means, project_name: str
) -> tuple[Developer, Confinement]:
    project = await asyncio.to_thread(load, worktree)
    workflow = dev_workflow(project)
    persona = persona_for(project.agents, workflow.agent if workflow and workflow.agent else "dev")
    llm = means.llm_for(config.model_for(persona.id, persona.name, None))
    rules = tuple(i.text for i in workflow.critical) if workflow else ()
    decider = Decider(worktree, config.onboarding, llm, threshold=config.escalation_threshold)
    developer = Developer(
        llm=llm,
        persona=persona,
        sandbox=means.sandbox,
        decider=decider,
        limits=config.story_limits,
        workflow=workflow.name if workflow else "dev-story",
        rules=rules,
        project=project_name,
    )
    return developer, confinement_for(project)


def means_from(default: str, environ: Mapping[str, str], sandbox: Sandbox) -> Means:
    """The server's means: `default` unless the repository's config names an allowed model
    (keys and addresses from the server's environment, as the runs' models)."""
    prices, ledger = PriceTable.load(price_file(environ)), CostLedger()
    clients: dict[str, Metered] = {}

    def llm_for(model: str | None) -> Metered:
        chosen = model or default
        if chosen not in clients:
            client = make_client(chosen, environ, chosen_by_repository=model is not None)
            window = operator_window(chosen, environ)
            clients[chosen] = Metered(client, prices, ledger, window=window)
        return clients[chosen]

    return Means(llm_for, sandbox)
