"""The engine's agent interface, done by persona-led agents from the pool.

Acts and sections are worked through the tool loop in a confined workspace (the
repository); its writes go back to the engine, which makes them after its checkpoint. Asks go
to the decisions. Checks and menus are one structured call. Each agent's model is the one
`.github/orchestrator.yml` gives its persona, among the operator's allowed models.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.agents.config import AgentsConfig
from bot.agents.decisions import Decider
from bot.agents.loop import NeedsPerson, work
from bot.agents.personas import persona_for
from bot.agents.pool import AgentPool
from bot.agents.task_agent import TaskAgent, for_the_engine
from bot.agents.tools import Workspace
from bot.engine.confine import Confinement
from bot.engine.model import Agent
from bot.engine.tasks import Escalation, Reply, Task
from bot.llm.metered import Metered
from bot.llm.probe import require_tool_calls
from bot.templates import render

PHASES = (
    ("1-analysis", "analysis"),
    ("2-plan", "planning"),
    ("3-solutioning", "solutioning"),
    ("4-implementation", "implementation"),
)

#: How much of what a step shows goes with a question as the context its answer cites.
CONTEXT_CHARS = 12_000
#: How a tool loop can end without the agent saying the step is done.
UNFINISHED = {"iterations": "iteration limit", "tokens": "output-token limit"}


class AgentRunner:
    def __init__(
        self,
        *,
        repository: Path,
        personas: list[Agent],
        config: AgentsConfig,
        llm_for: Callable[[str | None], Metered],
        pool: AgentPool,
        decider: Decider,
        run_id: str,
        project: str = "",
        workflow_roots: dict[str, str] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        confinement: Confinement | None = None,
    ) -> None:
        self.repository = repository
        self.confinement = confinement or Confinement(repository)
        self.personas = personas
        self.config = config
        self.llm_for = llm_for
        self.pool = pool
        self.decider = decider
        self.run_id = run_id
        self.project = project or repository.name
        self.roots = workflow_roots or {}
        self.on_event = on_event or (lambda _kind, _data: None)
        self._probed: set[str] = set()  # the models seen to make tool calls

    async def ready(self, model: str | None = None) -> None:
        """Refuse a model that makes no tool calls before it is given work (NoToolCalls):
        the default model at the start of a run, a persona's own before its first step."""
        llm = self.llm_for(model)
        if llm.client.spec not in self._probed:
            await require_tool_calls(llm)
            self._probed.add(llm.client.spec)

    def _phase(self, workflow: str) -> str:
        root = self.roots.get(workflow, workflow)
        return next((phase for marker, phase in PHASES if marker in root), "implementation")

    async def perform(self, task: Task) -> Reply:
        with for_the_engine():
            return await self._perform(task)

    async def _perform(self, task: Task) -> Reply:
        persona = persona_for(self.personas, task.agent)
        model = self.config.model_for(persona.id, persona.name, None)
        llm = self.llm_for(model)
        if task.kind == "ask":
            # What the step shows the agent is what an answer may cite as its support.
            shown = [task.step_goal, *task.inputs.values(), *task.documents.values()]
            decision = await self.decider.decide(
                task.instruction,
                "\n\n".join(text for text in shown if text)[:CONTEXT_CHARS],
                charge={"workflow": task.workflow, "agent": persona.id},
            )
            if decision.escalated:
                raise NeedsPerson(decision)
            return Reply(
                answer=decision.answer, confidence=decision.confidence, text=decision.reasoning
            )
        if task.kind in ("check", "menu"):
            return await TaskAgent(llm, project=self.project).perform(task)

        await self.ready(model)

        async def loop() -> Reply:
            before = llm.ledger.total_usd
            workspace = Workspace(self.repository, self.confinement)
            result = await work(
                llm,
                persona,
                task,
                workspace,
                self.decider,
                on_progress=lambda text: self.on_event(
                    "progress", {"agent": persona.id, "text": text}
                ),
            )
            self.on_event(
                "cost",
                {
                    "agent": persona.id,
                    "usd": round(llm.ledger.total_usd - before, 6),
                    "workflow": task.workflow,
                },
            )
            self.on_event(
                "agent-done",
                {"agent": persona.id, "stopped": result.stopped, "iterations": result.iterations},
            )
            if result.stopped in UNFINISHED:
                # Out of room before it said it was done: the step is not done, and what it
                # wrote so far is not made. A person decides (more room, a narrower step).
                raise Escalation(
                    render(
                        "agents/unfinished.md.j2",
                        agent=persona.name,
                        where=f"{task.workflow}:{task.step_id}",
                    ),
                    f"the agent reached its {UNFINISHED[result.stopped]} after "
                    f"{result.iterations} iteration(s) without calling done",
                    point="unfinished",
                )
            return Reply(text=result.text, files=result.files)

        return await self.pool.run(
            self.run_id, self.project, self._phase(task.workflow), persona.id, loop
        )
