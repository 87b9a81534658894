"""`.github/orchestrator.yml`: what a repository may set, checked with every problem named.

A repository chooses models only among those the operator allows (ORCHESTRATOR_ALLOWED_MODELS);
keys and addresses never come from here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bot.llm.allowed import allowed_models

CONFIG_PATH = ".github/orchestrator.yml"
SPEC = r"^[a-z-]+:[^\s]+$"  # provider:model
PHASES = ("analysis", "planning", "solutioning", "implementation")
MERGE_METHODS = ("merge", "squash", "rebase")
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "agents": {
            "type": "object",
            "description": "agent id or persona name (or `default`) -> provider:model",
            "additionalProperties": {"type": "string", "pattern": SPEC},
        },
        "max_concurrent_agents": {"type": "integer", "minimum": 1, "maximum": 32},
        "llm_budget_usd": {"type": "number", "exclusiveMinimum": 0},
        "escalation_threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "onboarding": {"type": "array", "items": {"type": "string"}},
        "phase_gates": {
            "type": "object",
            "additionalProperties": False,
            "properties": {phase: {"enum": ["auto", "approve"]} for phase in PHASES},
        },
        "review_rounds": {"type": "integer", "minimum": 0, "maximum": 10},
        "auto_merge": {
            "type": "boolean",
            "description": "merge a story's pull request once ao/review passed and CI is green",
        },
        "merge_method": {"enum": list(MERGE_METHODS)},
        "retrospectives": {
            "type": "boolean",
            "description": "run the retrospective workflow once every story of an epic is done",
        },
        "developer": {
            "type": "object",
            "description": "the developer loop's limits per story: agent turns, wall time, tokens",
            "additionalProperties": False,
            "properties": {
                "iterations": {"type": "integer", "minimum": 1, "maximum": 50},
                "minutes": {"type": "number", "exclusiveMinimum": 0, "maximum": 1440},
                "tokens": {"type": "integer", "minimum": 1000},
            },
        },
        "sandbox": {
            "type": "object",
            "description": "commands run in the sandbox: setup (with network), test (without)",
            "additionalProperties": False,
            "properties": {
                "setup": {"type": "string", "minLength": 1},
                "test": {"type": "string", "minLength": 1},
            },
        },
    },
}


#: Settings the schema accepts before the product acts on them, with when they will: they are
#: shown as "not active yet" (the config check, `/ao status`), never silently ignored.
NOT_ACTIVE_YET: dict[str, str] = {}


def not_active(text: str) -> dict[str, str]:
    """The settings a config's text sets that do not act yet, each with why."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: why for key, why in NOT_ACTIVE_YET.items() if key in data}


@dataclasses.dataclass(frozen=True)
class StoryLimits:
    """How far the developer loop goes on one story before it is blocked for a person."""

    iterations: int = 5  # agent turns, each followed by a test run
    minutes: float = 60.0  # wall time for the whole story
    tokens: int = 400_000  # input and output tokens of the story's model calls


@dataclasses.dataclass(frozen=True)
class AgentsConfig:
    agents: Mapping[str, str] = dataclasses.field(default_factory=dict)
    max_concurrent_agents: int = 3
    llm_budget_usd: float | None = None
    escalation_threshold: float = 0.75
    onboarding: tuple[str, ...] = ()
    phase_gates: Mapping[str, str] = dataclasses.field(default_factory=dict)
    review_rounds: int = 2
    auto_merge: bool = False
    merge_method: str = "merge"
    retrospectives: bool = False
    setup_command: str | None = None
    test_command: str | None = None
    story_limits: StoryLimits = StoryLimits()

    def model_for(self, agent_id: str, persona: str, fallback: str | None) -> str | None:
        for key in (agent_id, persona.lower(), "default"):
            if key in self.agents:
                return self.agents[key]
        return fallback


class ConfigError(ValueError):
    """The file has problems; the message lists every one, with where it is."""


def load_config(
    repository: Path, environ: Mapping[str, str], *, check_models: bool = True
) -> AgentsConfig:
    """The repository's config; `check_models=False` when no model will be called (a replay),
    so the operator's list of allowed models does not matter."""
    path = repository / CONFIG_PATH
    if not path.is_file():
        return AgentsConfig()
    return parse_config(path.read_text(), environ, check_models=check_models)


def parse_config(
    text: str, environ: Mapping[str, str], *, check_models: bool = True
) -> AgentsConfig:
    """The config from the file's text (as a branch holds it)."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{CONFIG_PATH}: not valid YAML: {exc}") from exc
    problems = sorted(_problems(data, environ, check_models))
    if problems:
        raise ConfigError(
            f"{CONFIG_PATH} has {len(problems)} problem(s):\n  " + "\n  ".join(problems)
        )
    return AgentsConfig(
        agents=dict(data.get("agents") or {}),
        max_concurrent_agents=int(data.get("max_concurrent_agents", 3)),
        llm_budget_usd=data.get("llm_budget_usd"),
        escalation_threshold=float(data.get("escalation_threshold", 0.75)),
        onboarding=tuple(data.get("onboarding") or ()),
        phase_gates=dict(data.get("phase_gates") or {}),
        review_rounds=int(data.get("review_rounds", 2)),
        auto_merge=bool(data.get("auto_merge", False)),
        merge_method=str(data.get("merge_method", "merge")),
        retrospectives=bool(data.get("retrospectives", False)),
        setup_command=(data.get("sandbox") or {}).get("setup"),
        test_command=(data.get("sandbox") or {}).get("test"),
        story_limits=StoryLimits(**(data.get("developer") or {})),
    )


def _problems(data: Any, environ: Mapping[str, str], check_models: bool) -> list[str]:
    found = []
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for error in validator.iter_errors(data):
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        if error.validator == "additionalProperties":
            known = ", ".join(sorted(error.schema.get("properties", {}))) or "none"
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            for key in extra:
                at = f"{where}.{key}" if where != "(top level)" else key
                found.append(f"{at}: unknown key (known keys: {known})")
            continue
        found.append(f"{where}: {error.message}")
    if check_models and isinstance(data, dict) and isinstance(data.get("agents"), dict):
        allowed = allowed_models(environ) or []
        for agent, model in data["agents"].items():
            if isinstance(model, str) and re.match(SPEC, model) and model not in allowed:
                found.append(
                    f"agents.{agent}: {model} is not among the models the operator "
                    f"allows ({', '.join(allowed) or 'none set'})"
                )
    return found
