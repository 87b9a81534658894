"""Which way repository code runs: refused without isolation, unsafe only when the operator says
so, and shown in /readyz; settings and `.github/orchestrator.yml` for the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.agents.config import ConfigError, load_config
from bot.sandbox.bwrap import DEFAULT_TOOLCHAIN
from bot.sandbox.policy import Limits, Mode
from bot.sandbox.runner import Sandbox, SandboxRefused
from bot.settings import Settings, SettingsError
from bot.web.keys import WORKTREES

pytestmark = pytest.mark.sandbox


async def test_without_bubblewrap_repository_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap to be found
    sandbox = Sandbox.detect(mode=Mode.BUBBLEWRAP, limits=Limits(), toolchain=DEFAULT_TOOLCHAIN)
    assert sandbox.refusal == "bubblewrap (bwrap) is not installed"
    assert sandbox.describe()["runs_repository_code"] is False
    with pytest.raises(SandboxRefused):
        await sandbox.run(tmp_path, "touch ran")
    assert not (tmp_path / "ran").exists()


async def test_a_blocked_bubblewrap_is_refused_not_weakened(tmp_path, monkeypatch):
    # A bwrap that fails the probe (as under Docker's default seccomp profile) is no sandbox.
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    sandbox = Sandbox.detect(mode=Mode.BUBBLEWRAP, limits=Limits(), toolchain=DEFAULT_TOOLCHAIN)
    assert sandbox.refusal is not None and "No permissions" in sandbox.refusal
    with pytest.raises(SandboxRefused):
        await sandbox.run(tmp_path, "touch ran")
    assert not (tmp_path / "ran").exists()


async def test_unsafe_host_runs_unisolated_says_so_and_still_gives_no_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret_value")
    sandbox = Sandbox.detect(
        mode=Mode.UNSAFE_HOST, limits=Limits(time_s=5), toolchain=DEFAULT_TOOLCHAIN
    )
    described = sandbox.describe()
    assert described["mode"] == "unsafe-host" and described["isolated"] is False
    result = await sandbox.run(tmp_path, "env; pwd")
    assert result.ok and b"ghs_secret_value" not in result.output
    assert str(tmp_path.resolve()).encode() in result.output  # it ran on the host, in place


async def test_unsafe_host_still_kills_the_tree_at_the_time_limit(tmp_path):
    sandbox = Sandbox.detect(
        mode=Mode.UNSAFE_HOST, limits=Limits(time_s=1), toolchain=DEFAULT_TOOLCHAIN
    )
    result = await sandbox.run(tmp_path, "sleep 30 & sleep 30")
    assert result.timed_out and result.duration_s < 10


def test_a_toolchain_that_would_expose_the_data_dir_is_refused(tmp_path):
    with pytest.raises(ValueError, match="would expose"):
        Sandbox.detect(
            mode=Mode.BUBBLEWRAP,
            limits=Limits(),
            toolchain=[*DEFAULT_TOOLCHAIN, str(tmp_path)],
            forbidden=[tmp_path / "data"],
        )


async def test_readyz_shows_the_sandbox_mode_and_the_worktree_root(make_client):
    client = await make_client()
    await client.app[WORKTREES].once()
    body = await (await client.get("/readyz")).json()
    assert body["status"] == "ready"
    assert body["sandbox"]["mode"] == "bubblewrap"
    assert body["sandbox"]["runs_repository_code"] is (body["sandbox"]["refusal"] is None)
    assert body["worktrees"]["bytes"] == 0
    assert body["worktrees"]["cap_bytes"] == 20 * 2**30


def test_settings_for_the_sandbox_are_read_and_checked():
    settings = Settings.from_env(
        {
            "ORCHESTRATOR_SANDBOX": "unsafe-host",
            "ORCHESTRATOR_SANDBOX_TIMEOUT_SECONDS": "60",
            "ORCHESTRATOR_SANDBOX_TOOLCHAIN": "/usr:/nix/store",
            "ORCHESTRATOR_WORKTREE_CAP_GB": "1.5",
        }
    )
    assert settings.sandbox_mode == "unsafe-host"
    assert settings.sandbox_timeout_seconds == 60.0
    assert settings.sandbox_toolchain == ("/usr", "/nix/store")
    assert settings.worktree_cap_gb == 1.5
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"ORCHESTRATOR_SANDBOX": "off", "ORCHESTRATOR_SANDBOX_MEMORY_MB": "0"})
    assert "ORCHESTRATOR_SANDBOX='off'" in str(caught.value)
    assert "ORCHESTRATOR_SANDBOX_MEMORY_MB" in str(caught.value)


def test_the_repository_names_its_setup_and_test_commands(tmp_path: Path):
    (tmp_path / ".github").mkdir()
    config = tmp_path / ".github" / "orchestrator.yml"
    config.write_text("sandbox:\n  setup: npm ci\n  test: npm test\n")
    loaded = load_config(tmp_path, {})
    assert (loaded.setup_command, loaded.test_command) == ("npm ci", "npm test")
    config.write_text("sandbox:\n  test: ''\n  network: true\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, {})
    assert "sandbox.network: unknown key" in str(caught.value)
    assert "sandbox.test:" in str(caught.value)
