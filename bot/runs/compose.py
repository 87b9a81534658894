"""Composing a run: the agent a `--llm` spec names and the policy the repository's config sets.

The CLI uses it today and the runner next: one place decides how a run is put together.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.agents.config import AgentsConfig, ConfigError, load_config
from bot.agents.decisions import Decider
from bot.agents.pool import AgentPool
from bot.agents.runner import AgentRunner
from bot.engine.autonomy import AutonomyPolicy
from bot.engine.confine import Confinement, confinement_for
from bot.engine.executor import RunError
from bot.engine.loader import Project
from bot.engine.tasks import ReplayAgent, WorkflowAgent
from bot.llm.budget import Budget
from bot.llm.errors import LLMError
from bot.llm.factory import make_client, price_file
from bot.llm.ledger import CostLedger
from bot.llm.metered import Metered
from bot.llm.pricing import PriceTable
from bot.llm.window import operator_window


def config_for(
    project: Project, environ: Mapping[str, str], spec: str | None = None
) -> AgentsConfig:
    """The repository's `.github/orchestrator.yml`, or a RunError that says what is wrong.
    A replay calls no model, so the operator's allowed models are not checked for it."""
    replay = bool(spec and spec.startswith("replay:"))
    try:
        return load_config(project.repository, environ, check_models=not replay)
    except ConfigError as exc:
        raise RunError(str(exc)) from exc


def confinement_of(project: Project, data_dir: Path, *also: Path) -> Confinement:
    """What the run's agents may touch: never the data dir, wherever it is, nor `also` (a
    run's own state on its branch)."""
    try:
        return confinement_for(project, hidden=[data_dir, *also])
    except ValueError as exc:
        raise RunError(f"--data-dir {data_dir}: {exc}") from exc


def policy_for(config: AgentsConfig) -> AutonomyPolicy:
    """One threshold: the repository's `escalation_threshold` decides asks as it decides the
    agents' own questions."""
    return AutonomyPolicy(threshold=config.escalation_threshold)


def agent_for(
    spec: str | None,
    environ: Mapping[str, str],
    ledger: CostLedger,
    project: Project,
    data_dir: Path,
    config: AgentsConfig,
    confinement: Confinement,
) -> WorkflowAgent:
    """The agent a `--llm` spec names: a recording, or persona-led agents on that model
    (each persona's own model where `.github/orchestrator.yml` names one)."""
    if spec and spec.startswith("replay:"):
        path = Path(spec.removeprefix("replay:"))
        if not path.is_file():
            raise RunError(f"--llm {spec}: no such recording")
        return ReplayAgent(path)
    if not spec:
        raise RunError(
            "--llm is needed: anthropic:MODEL, openai:MODEL, openai-compatible:MODEL or replay:FILE"
        )
    try:
        limit = config.llm_budget_usd or environ.get("ORCHESTRATOR_LLM_BUDGET_USD")
        budget = Budget(float(limit)) if limit else None
        prices = PriceTable.load(price_file(environ))
        clients: dict[str, Metered] = {}

        def llm_for(model: str | None) -> Metered:
            chosen = model or spec
            if chosen not in clients:
                client = make_client(chosen, environ, chosen_by_repository=model is not None)
                window = operator_window(chosen, environ)
                clients[chosen] = Metered(client, prices, ledger, budget=budget, window=window)
            return clients[chosen]

        default = llm_for(None)  # refuses an unknown model before the run starts
    except (LLMError, ValueError) as exc:
        raise RunError(f"--llm {spec}: {exc}") from exc
    pool = AgentPool(per_project=config.max_concurrent_agents)
    decider = Decider(
        project.repository,
        config.onboarding,
        default,
        threshold=config.escalation_threshold,
        log=data_dir / "decisions.jsonl",
    )
    return AgentRunner(
        repository=project.repository,
        personas=project.agents,
        config=config,
        llm_for=llm_for,
        pool=pool,
        decider=decider,
        run_id=str(data_dir),
        workflow_roots={w.name: w.root for w in project.workflows},
        confinement=confinement,
    )
