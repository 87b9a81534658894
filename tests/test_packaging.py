"""A plain `pip install .` has everything the product imports, at versions with what it uses."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from packaging.requirements import Requirement

from tests.support import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements() -> dict[str, Requirement]:
    return {_norm(r.name): r for r in map(Requirement, PROJECT["dependencies"])}


def test_every_import_of_the_product_is_a_runtime_dependency():
    declared = set(_requirements())
    owners = packages_distributions()
    missing: set[str] = set()
    for package in ("bot", "githubsim"):
        for path in (ROOT / package).rglob("*.py"):
            if "demo_seed" in path.parts:  # the demo's seed project, not the product
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in ("bot", "githubsim") or top in sys.stdlib_module_names:
                        continue
                    dists = {_norm(d) for d in owners.get(top, [])}
                    if not dists & declared:
                        missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert not missing, f"imported but only in an extra, or not declared: {sorted(missing)}"


def test_gidgethub_floor_has_the_rate_limit_hooks_we_override():
    # manage_rate_limit and handle_rate_limit_error arrived in gidgethub 6.0; on 5.x our
    # overrides would silently never run.
    assert not _requirements()["gidgethub"].specifier.contains("5.3")
    assert _requirements()["gidgethub"].specifier.contains("6.0")


def test_the_wheel_carries_every_file_the_demo_and_the_texts_need(tmp_path):
    """The demo's seed (its `.github/orchestrator.yml` too: setuptools' globs skip dot-folders)
    and every template ship in the wheel a plain install makes."""
    import shutil
    import subprocess
    import zipfile

    # From a copy: a `build/` left by an earlier build would hide a file the globs miss.
    skip = shutil.ignore_patterns(".venv", ".cache", ".git", "build", "*.egg-info", "__pycache__")
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=skip)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    [wheel] = tmp_path.glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        p.relative_to(ROOT).as_posix()
        for folder in ("bot/demo_seed", "bot/templates")
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert wanted - shipped == set()
