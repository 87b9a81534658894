"""`.github/orchestrator.yml` validation, and the confinement of an agent's tools."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.agents.config import AgentsConfig, ConfigError, load_config
from bot.agents.tools import Workspace, run_tool

ALLOWED = {"ORCHESTRATOR_ALLOWED_MODELS": "anthropic:claude-haiku-4-5,openai:gpt-4o-mini"}


def config_file(tmp_path: Path, text: str) -> Path:
    (tmp_path / ".github").mkdir(exist_ok=True)
    (tmp_path / ".github/orchestrator.yml").write_text(text)
    return tmp_path


def test_defaults_without_a_file(tmp_path):
    config = load_config(tmp_path, {})
    assert (config.max_concurrent_agents, config.escalation_threshold) == (3, 0.75)


def test_a_valid_file_is_read(tmp_path):
    config = load_config(
        config_file(
            tmp_path,
            """
agents: {pm: anthropic:claude-haiku-4-5, default: openai:gpt-4o-mini}
max_concurrent_agents: 2
llm_budget_usd: 12.5
escalation_threshold: 0.8
onboarding: [docs/onboarding.md]
phase_gates: {planning: approve}
review_rounds: 1
auto_merge: true
merge_method: squash
retrospectives: true
""",
        ),
        ALLOWED,
    )
    assert config.auto_merge and config.merge_method == "squash" and config.review_rounds == 1
    assert config.retrospectives and not AgentsConfig().retrospectives  # off by default
    assert config.model_for("pm", "John", None) == "anthropic:claude-haiku-4-5"
    assert config.model_for("dev", "Amelia", None) == "openai:gpt-4o-mini"
    assert config.llm_budget_usd == 12.5 and config.onboarding == ("docs/onboarding.md",)


def test_every_unknown_or_bad_key_is_named(tmp_path):
    config_file(
        tmp_path,
        """
agents: {pm: anthropic:claude-opus-4, dev: not-a-spec}
max_concurent_agents: 3
escalation_threshold: 1.5
phase_gates: {planning: maybe, shipping: auto}
review_rounds: "two"
auto_merge: yes please
merge_method: octopus
retrospectives: sometimes
""",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path, ALLOWED)
    message = str(raised.value)
    assert "has 10 problem(s)" in message
    assert "retrospectives: 'sometimes' is not of type 'boolean'" in message
    assert (
        "max_concurent_agents: unknown key (known keys: agents, auto_merge, developer, escalation"
        in message
    )
    assert "auto_merge: 'yes please' is not of type 'boolean'" in message
    assert "merge_method: 'octopus' is not one of ['merge', 'squash', 'rebase']" in message
    assert "escalation_threshold: 1.5 is greater than the maximum of 1" in message
    assert "phase_gates.planning: 'maybe' is not one of ['auto', 'approve']" in message
    assert "phase_gates.shipping: unknown key" in message
    assert "review_rounds: 'two' is not of type 'integer'" in message
    assert (
        "agents.pm: anthropic:claude-opus-4 is not among the models the operator allows" in message
    )
    assert "agents.dev: 'not-a-spec' does not match" in message


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs/brief.md").write_text("# Brief\nA todo app.\n")
    (root / ".env").write_text("ANTHROPIC_API_KEY=sk-secret\n")
    (root / ".git").mkdir()
    (root / ".git/config").write_text("[remote] token=ghp_secret\n")
    (tmp_path / "outside.txt").write_text("outside")
    os.symlink(tmp_path / "outside.txt", root / "docs/link.md")
    os.symlink("/proc/self/environ", root / "environ")
    os.mkfifo(root / "pipe")
    return Workspace(root)


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../outside.txt", "'..' leads outside"),
        ("docs/../../outside.txt", "'..' leads outside"),
        ("/etc/passwd", "only paths inside the workspace"),
        ("C:\\Windows\\win.ini", "only paths inside the repository"),
        ("docs/link.md", "a link that leads outside"),
        ("environ", "a link that leads outside"),
        ("pipe", "not a regular file"),
        (".env", "not available to agents"),
        (".git/config", "not available to agents"),
        ("", "only paths inside the workspace"),
    ],
)
def test_escapes_are_refused(workspace, path, why):
    result = run_tool(workspace, "read_file", {"path": path})
    assert result.startswith("refused:") and why in result
    assert "secret" not in result and result != "outside"


def test_reads_writes_edits_lists_and_searches_inside(workspace):
    assert run_tool(workspace, "read_file", {"path": "docs/brief.md"}).startswith("# Brief")
    assert (
        run_tool(workspace, "write_file", {"path": "docs/prd.md", "content": "# PRD\ntodo"})
        == "wrote docs/prd.md (10 characters)"
    )
    assert not (workspace.root / "docs/prd.md").exists()  # the engine writes after its checkpoint
    run_tool(workspace, "edit_file", {"path": "docs/prd.md", "old": "todo", "new": "lists"})
    assert run_tool(workspace, "read_file", {"path": "docs/prd.md"}) == "# PRD\nlists"
    listing = run_tool(workspace, "list_dir", {"path": "."}).splitlines()
    assert "docs/" in listing and ".env" not in listing and ".git/" not in listing
    assert "docs/prd.md" in run_tool(workspace, "list_dir", {"path": "docs"})
    found = run_tool(workspace, "search", {"text": "secret"})
    assert found == "no matches"  # .env and .git are not searched
    assert run_tool(workspace, "write_file", {"path": "../x", "content": "y"}).startswith("refused")
    workflow = {"path": ".github/workflows/leak.yml", "content": "on: push"}
    assert "may read .github/ but never change it" in run_tool(workspace, "write_file", workflow)
    assert run_tool(workspace, "print_env", {}) == "refused: 'print_env' is not one of your tools"
