"""`orchestrator run`: a workflow on a local repository, with no GitHub, step by step."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from bot.agents.runner import AgentRunner
from bot.engine.checkpoint import CheckpointStore
from bot.engine.executor import Executor, RunError, RunOutcome
from bot.engine.loader import load
from bot.engine.tasks import TaskMismatch
from bot.llm.errors import LLMError
from bot.llm.ledger import CostLedger
from bot.runs.compose import agent_for, config_for, confinement_of, policy_for


def run_workflow(
    args: argparse.Namespace, data_dir: Path, out: TextIO, environ: Mapping[str, str]
) -> int:
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
        config = config_for(project, environ, args.llm)
        confinement = confinement_of(project, data_dir)
        agent = agent_for(args.llm, environ, ledger, project, data_dir, config, confinement)
        executor = Executor(
            project,
            agent,
            CheckpointStore(data_dir / "runs"),
            policy=policy_for(config),
            overrides=overrides,
            on_event=show,
            confinement=confinement,
        )

        async def start() -> RunOutcome:
            if isinstance(agent, AgentRunner):
                await agent.ready()  # a model that makes no tool calls is refused here
            return await executor.run(args.workflow, resume=args.resume, answer=args.answer)

        result = asyncio.run(start())
    except (RunError, TaskMismatch, LLMError) as exc:
        print(f"orchestrator: {exc}", file=out)
        return 1
    print(summary(result), file=out)
    if ledger.charges:
        print(f"  model calls: {len(ledger.charges)}, ${ledger.total_usd:.4f}", file=out)
        print(f"  tokens: {tokens(ledger)}", file=out)
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


def tokens(ledger: CostLedger) -> str:
    """Token counts: what a local model's dollars (often none) cannot say."""
    usages = [c.usage for c in ledger.charges]
    read = sum(u.cache_read_tokens for u in usages)
    written = sum(u.cache_write_tokens for u in usages)
    return (
        f"{sum(u.input_tokens for u in usages)} in, {sum(u.output_tokens for u in usages)} out"
        f", {read} read from cache, {written} written to it"
    )


def summary(result: RunOutcome) -> str:
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
