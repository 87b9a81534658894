"""The BMAD installs the engine tests read, made by BMAD's own installer (scripts/prefetch-bmad)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.engine.loader import Project, load
from tests.support import ROOT

VERSIONS = [
    pin["version"]
    for pin in json.loads((ROOT / "tests" / "bmad-fixtures.json").read_text())["installs"]
]


def install_path(version: str) -> Path:
    cache = Path(os.environ.get("ORCHESTRATOR_BMAD_CACHE", ROOT / ".cache" / "bmad"))
    path = cache / version
    if not (cache / f"{version}.stamp").exists():
        pytest.fail(
            f"BMAD {version} is not installed: run scripts/prefetch-bmad (scripts/test does)"
        )
    return path


_loaded: dict[str, Project] = {}


@pytest.fixture
def installed():
    """Load an install once per session (they are read-only)."""

    def get(version: str) -> Project:
        if version not in _loaded:
            _loaded[version] = load(install_path(version))
        return _loaded[version]

    return get
