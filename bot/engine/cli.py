"""`orchestrator run`: a workflow on a local repository, with no GitHub, step by step."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from bot.agents.config import load_config
from bot.agents.decisions import Decider
from bot.agents.pool import AgentPool
from bot.agents.runner import AgentRunner
from bot.engine.agent import ReplayAgent, ReplayMismatch, WorkflowAgent
from bot.engine.checkpoint import CheckpointStore
from bot.engine.executor import Executor, RunError, RunResult
from bot.engine.loader import Project, load
from bot.llm.budget import Budget
from bot.llm.errors import LLMError
from bot.llm.factory import make_client, price_file
from bot.llm.ledger import CostLedger
from bot.llm.metered import Metered
from bot.llm.pricing import PriceTable


def agent_for(
    spec: str | None,
    environ: Mapping[str, str],
    ledger: CostLedger,
    project: Project,
    data_dir: Path,
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
        config = load_config(project.repository, environ)
        limit = config.llm_budget_usd or environ.get("ORCHESTRATOR_LLM_BUDGET_USD")
        budget = Budget(float(limit)) if limit else None
        prices = PriceTable.load(price_file(environ))
        clients: dict[str, Metered] = {}

        def llm_for(model: str | None) -> Metered:
            chosen = model or spec
            if chosen not in clients:
                client = make_client(chosen, environ, chosen_by_repository=model is not None)
                clients[chosen] = Metered(client, prices, ledger, budget=budget)
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
    )


def run_workflow(args: argparse.Namespace, data_dir: Path, out: TextIO) -> int:
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"orchestrator: --set {item!r} is not KEY=VALUE", file=out)
            return 2
        overrides[key.strip()] = value
    repository = Path(args.repo)
    project = load(repository)
    if choices := project.choices(args.workflow):
        print(
            f"orchestrator: more than one module installs {args.workflow!r}; "
            f"name one of: {', '.join(choices)}",
            file=out,
        )
        return 2
    if project.errors and project.workflow(args.workflow) is None:
        for problem in project.errors:
            print(problem, file=out)
        return 1

    def show(kind: str, data: dict[str, Any]) -> None:
        if kind == "step":
            print(f"▶ {data['step']}: {data.get('goal', '')}", file=out, flush=True)
        elif kind == "decision":
            print(
                f"  ↳ {data['point']}: {data['outcome']} {data.get('value') or ''} "
                f"({data['by']}: {data['reason']})",
                file=out,
            )
        elif kind in ("skipped", "loop-cap", "goto-missing", "workflow-changed", "write-refused"):
            print(f"  ! {kind}: {data}", file=out)

    ledger = CostLedger()
    try:
        executor = Executor(
            project,
            agent_for(args.llm, os.environ, ledger, project, data_dir),
            CheckpointStore(data_dir / "runs"),
            overrides=overrides,
            on_event=show,
        )
        result = asyncio.run(executor.run(args.workflow, resume=args.resume, answer=args.answer))
    except (RunError, ReplayMismatch, LLMError) as exc:
        print(f"orchestrator: {exc}", file=out)
        return 1
    print(summary(result), file=out)
    if ledger.charges:
        print(f"  model calls: {len(ledger.charges)}, ${ledger.total_usd:.4f}", file=out)
    log = data_dir / "decisions.jsonl"
    if log.exists():
        sources: dict[str, int] = {}
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            sources[entry["source"]] = sources.get(entry["source"], 0) + 1
        print(
            "  questions: "
            + ", ".join(f"{n} answered by {s}" for s, n in sorted(sources.items()))
            + f" (log: {log})",
            file=out,
        )
    return 0 if result.status == "done" else 3


def summary(result: RunResult) -> str:
    lines = [f"\n{result.status}: {result.steps_run} steps run"]
    lines += [f"  output: {path}" for path in sorted(result.outputs)]
    by: dict[str, int] = {}
    for decision in result.decisions:
        by[decision["by"]] = by.get(decision["by"], 0) + 1
    if by:
        lines.append("  decisions: " + ", ".join(f"{n} by {who}" for who, n in sorted(by.items())))
    for escalation in result.escalations:
        if "answer" not in escalation:
            where = f"{escalation['workflow']}:{escalation['step']}"
            lines.append(
                f"  escalation at {where}: {escalation['reason']} — answer with "
                "--resume --answer TEXT"
            )
    return "\n".join(lines)
