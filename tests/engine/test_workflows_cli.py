"""`orchestrator workflows list|validate`: a table, file:line for each problem, 1 on errors."""

from __future__ import annotations

from bot import cli
from tests.engine.conftest import install_path
from tests.engine.test_messy_repositories import bmad, write


def run(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(["workflows", *argv], environ={})
    return code, capsys.readouterr().out


def test_list_shows_every_workflow_with_its_agent(capsys):
    code, out = run(capsys, "list", "--repo", str(install_path("6.0.4")))
    assert code == 0
    assert "BMAD 6.0.4 in" in out and "Bob (sm)" in out
    row = next(line for line in out.splitlines() if line.startswith("create-story "))
    assert row.split()[1:4] == ["workflow.yaml", "6", "Bob"]


def test_validate_an_install_and_one_workflow(capsys):
    code, out = run(capsys, "validate", str(install_path("6.12.0")))
    assert code == 0 and out.rstrip().endswith("29 of 29 valid; 0 errors, 0 warnings")
    one = install_path("6.0.4") / "_bmad/bmm/workflows/4-implementation/create-story/workflow.yaml"
    code, out = run(capsys, "validate", str(one))
    assert code == 0
    assert "instructions.xml:24: warning: goto step '2a'" in out
    assert out.rstrip().endswith("1 of 1 valid; 0 errors, 5 warnings")


def test_validate_fails_with_file_line_and_reason(capsys, tmp_path):
    bmad(
        tmp_path,
        **{
            "_bmad/bmm/workflows/evil/workflow.yaml": "name: evil\n"
            "instructions: '{installed_path}/i.xml'\ntemplate: '/etc/passwd'\n",
            "_bmad/bmm/workflows/evil/i.xml": "<step n='1'><goto step='9'/></step>",
        },
    )
    code, out = run(capsys, "validate", str(tmp_path))
    assert code == 1
    assert "_bmad/bmm/workflows/evil/workflow.yaml:3: error: template = '/etc/passwd'" in out
    row = next(line for line in out.splitlines() if line.startswith("evil "))
    assert row.split() == ["evil", "1", "1", "1", "invalid"]
    assert out.rstrip().endswith("1 of 2 valid; 1 errors, 2 warnings")


def test_a_v4_repository_gets_the_upgrade_path(capsys, tmp_path):
    write(tmp_path, {".bmad-core/agents/pm.md": "# PM\n"})
    code, out = run(capsys, "validate", str(tmp_path))
    assert code == 1 and "npx bmad-method install" in out
    code, out = run(capsys, "list", "--repo", str(tmp_path))
    assert code == 1 and "a BMAD v4 install (not supported)" in out


def test_validate_checks_the_config_and_names_settings_that_do_not_act_yet(capsys, tmp_path):
    import shutil

    from tests.support import ROOT

    shutil.copytree(ROOT / "tests/fixtures/plan", tmp_path / "repo")
    config = tmp_path / "repo/.github/orchestrator.yml"
    config.write_text("review_rounds: 3\nphase_gates: {planning: auto}\n")
    assert cli.main(["workflows", "validate", str(tmp_path / "repo")]) == 0
    out = capsys.readouterr().out
    assert "config: .github/orchestrator.yml is valid" in out
    assert "review_rounds: accepted, not active yet (reviews of story pull requests" in out
    assert "phase_gates" not in out  # it acts: plans wait at its gates
    config.write_text("review_round: 3\n")
    assert cli.main(["workflows", "validate", str(tmp_path / "repo")]) == 1
    assert "review_round: unknown key (known keys: agents," in capsys.readouterr().out
