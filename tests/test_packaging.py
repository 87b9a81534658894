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
