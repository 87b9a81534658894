"""Which agents (personas) an install has: one per agent, newest source first.

An install upgraded over the years carries an agent in several forms: a 6.3+ agent skill
(`bmad-agent-pm/SKILL.md`, with `customize.toml` from 6.4), a 6.2 launcher skill, and the
compiled `_bmad/bmm/agents/pm.md` of 6.0. The skill is the agent; older forms of the same
agent are not listed again. A 6.3 agent skill without `customize.toml` is read from its
`SKILL.md` (`# John`, `## Identity`, …, the capabilities table) and the agent manifest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.engine import agent_files as agent_readers
from bot.engine.files import RepoFiles
from bot.engine.installation import Installation
from bot.engine.model import Agent, MenuItem

Overrides = Callable[[str], list[dict[str, Any]]]
_HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*$", re.MULTILINE)
_ROW = re.compile(r"^\|\s*([A-Z0-9]{1,4})\s*\|\s*(.+?)\s*\|\s*([\w:.-]+)\s*\|\s*$", re.MULTILINE)
_ACT_AS = re.compile(r"\bAct as ([A-Z][\w'-]*)")
_PROVIDES = re.compile(r"\bprovides an? ([A-Z][\w/ -]+?) who\b")


def roster(files: RepoFiles, installation: Installation, overrides: Overrides) -> list[Agent]:
    found: dict[str, Agent] = {}
    modules = ["core", *installation.modules]

    def add(agent: Agent | None) -> None:
        if agent is not None:
            found.setdefault(agent_key(agent.id, modules), agent)

    skills: list[Path] = []
    root = installation.root
    if root is not None:
        skills += sorted(s.parent for s in root.rglob("bmad-agent-*/SKILL.md"))
    for folder in installation.skill_folders:
        skills += sorted(s.parent for s in folder.glob("bmad-agent-*/SKILL.md"))
    manifest = {
        row.get("canonicalId") or row.get("name") or "": row
        for row in installation.manifests.get("agent", [])
    }
    for skill in skills:
        add(read_skill(files, skill, overrides(skill.name), manifest.get(skill.name, {})))
    if root is not None:
        for module in modules:
            folder = root / module / "agents"
            if folder.is_dir():
                for path in sorted(folder.rglob("*")):
                    add(_compiled(files, path, module))
    return list(found.values())


def agent_key(agent_id: str, modules: list[str]) -> str:
    """The agent an id names, whatever its generation (`pm`, `bmad-agent-bmm-pm`): `pm`."""
    key = agent_readers.role_key(agent_id)
    for module in modules:
        if key.startswith(f"{module}-"):
            return key[len(module) + 1 :]
    return key


def _compiled(files: RepoFiles, path: Path, module: str) -> Agent | None:
    if path.name.endswith(".agent.yaml"):
        return agent_readers.read_agent_yaml(files, path, module)
    text = files.read_text(path) if path.suffix == ".md" else None
    if text is not None and ("<agent" in text or "```yaml\nagent:" in text):
        return agent_readers.read_compiled(files, path, module)
    return None


def read_skill(
    files: RepoFiles, folder: Path, overrides: list[dict[str, Any]], listed: dict[str, str]
) -> Agent | None:
    """An agent skill: `customize.toml` where it has one, else its `SKILL.md`."""
    if (folder / "customize.toml").is_file() or overrides:
        agent = agent_readers.read_agent_skill(files, folder, overrides, None)
        if agent is not None:
            return agent
    return _from_markdown(files, folder, listed)


def _from_markdown(files: RepoFiles, folder: Path, listed: dict[str, str]) -> Agent | None:
    path = folder / "SKILL.md"
    text = files.read_text(path)
    if text is None:
        return None
    _fields, body, _first = files.front_matter(path, text)
    parts = _sections(body)
    name = listed.get("displayName") or _persona_name(body, parts)
    identity = parts.get("identity") or listed.get("identity", "")
    if not name or not identity:
        return None  # a launcher that loads an agent file elsewhere, not a persona
    overview = parts.get("overview", "")
    principles = [
        line.lstrip("-* ").strip()
        for line in parts.get("principles", "").splitlines()
        if line.strip().startswith(("-", "*"))
    ]
    title = listed.get("title") or (m.group(1) if (m := _PROVIDES.search(overview)) else "")
    menu = tuple(
        MenuItem(code, description, skill)
        for code, description, skill in _ROW.findall(parts.get("capabilities", ""))
        if code != "Code"
    )
    return Agent(
        id=folder.name,
        name=name,
        title=title,
        role=listed.get("role") or overview.split("\n\n")[0],
        identity=identity,
        communication_style=parts.get("communication style")
        or listed.get("communicationStyle", ""),
        principles=tuple(principles),
        menu=menu,
        module=listed.get("module") or None,
        source=files.source(path, 1),
    )


def _sections(body: str) -> dict[str, str]:
    """`## Heading` → its text, headings lower-cased."""
    marks = list(_HEADING.finditer(body))
    return {
        m.group(2).strip().lower(): body[
            m.end() : (marks[i + 1].start() if i + 1 < len(marks) else len(body))
        ].strip()
        for i, m in enumerate(marks)
        if len(m.group(1)) >= 2
    }


def _persona_name(body: str, parts: dict[str, str]) -> str:
    title = next((m.group(2) for m in _HEADING.finditer(body) if m.group(1) == "#"), "")
    if title and len(title.split()) <= 3:
        return title
    found = _ACT_AS.search(parts.get("overview", ""))
    return found.group(1) if found else ""
