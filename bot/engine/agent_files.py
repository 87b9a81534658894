"""BMAD's agents (personas) in each generation, and which agent owns which workflow.

- 6.0.x: compiled agent markdown with an `<agent>` XML block (persona, menu);
- early alphas: `*.agent.yaml`;
- 6.1+: agent skills (`bmad-agent-*/SKILL.md` + `customize.toml`, with the team's and the
  person's overrides under `_bmad/custom/`).

A workflow's owner is the agent whose menu offers it. When no agent offers it, it goes by
role: the role's persona if the version has one, else the agent nearest to that role
(6.12 has no scrum master; the product manager plans sprints there).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.engine.files import RepoFiles
from bot.engine.model import Agent, MenuItem
from bot.engine.tags import parse_tree

#: Roles in the order a workflow's folder or name suggests them, with stand-ins.
ROLE_HINTS = (
    ("analysis", "analyst"),
    ("research", "analyst"),
    ("brief", "analyst"),
    ("brainstorm", "analyst"),
    ("prd", "pm"),
    ("plan-workflows", "pm"),
    ("epic", "pm"),
    ("ux", "ux-designer"),
    ("architecture", "architect"),
    ("solutioning", "architect"),
    ("readiness", "architect"),
    ("story", "sm"),
    ("sprint", "sm"),
    ("retrospective", "sm"),
    ("correct-course", "sm"),
    ("dev", "dev"),
    ("code-review", "dev"),
    ("review", "dev"),
    ("build", "dev"),
    ("quick", "dev"),
    ("qa", "qa"),
    ("test", "qa"),
    ("document", "analyst"),
    ("context", "analyst"),
)
STAND_INS = {
    "sm": ("sm", "pm", "dev"),
    "qa": ("qa", "tea", "dev"),
    "ux-designer": ("ux-designer", "pm"),
    "analyst": ("analyst", "pm"),
    "architect": ("architect", "dev"),
    "pm": ("pm", "analyst"),
    "dev": ("dev", "quick-flow-solo-dev"),
}


def role_key(agent_id: str) -> str:
    return re.sub(r"^bmad-(agent-)?", "", agent_id).removesuffix(".agent")


_YAML_BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def read_compiled(files: RepoFiles, path: Path, module: str | None) -> Agent | None:
    """A 6.0.x agent file: markdown around an `<agent>` block, or around a YAML block with
    the same `agent:` mapping as an `*.agent.yaml` (as some alphas wrote them)."""
    text = files.read_text(path)
    if text is None:
        return None
    root = parse_tree(text, structure=None)
    node = root.find("agent")
    if node is None:
        for block in _YAML_BLOCK.findall(text):
            try:
                data = yaml.safe_load(block)
            except yaml.YAMLError:
                continue
            if isinstance(data, dict) and isinstance(data.get("agent"), dict):
                return agent_from_mapping(
                    files, path, data["agent"], module, path.stem.removesuffix(".agent")
                )
        files.warn(path, 1, "no <agent> block: not an agent file")
        return None
    persona = node.find("persona")

    def part(tag: str) -> str:
        found = persona.find(tag) if persona is not None else None
        return found.text() if found is not None else ""

    menu = tuple(
        MenuItem(
            item.attrs.get("cmd", ""),
            item.text(),
            item.attrs.get("exec") or item.attrs.get("workflow") or None,
        )
        for item in node.find_all("item")
    )
    principles = tuple(p.strip("- ").strip() for p in part("principles").split("\n") if p.strip())
    return Agent(
        id=path.stem,
        name=node.attrs.get("name", path.stem),
        title=node.attrs.get("title", ""),
        role=part("role"),
        identity=part("identity"),
        communication_style=part("communication_style"),
        principles=principles,
        menu=menu,
        module=module,
        source=files.source(path, node.line),
    )


def read_agent_yaml(files: RepoFiles, path: Path, module: str | None) -> Agent | None:
    """An early alpha's `*.agent.yaml`."""
    data = files.read_yaml(path)
    agent = data.get("agent") if isinstance(data, dict) else None
    if not isinstance(agent, dict):
        files.warn(path, 1, "no `agent:` mapping: not an agent file")
        return None
    return agent_from_mapping(files, path, agent, module, path.name.removesuffix(".agent.yaml"))


def agent_from_mapping(
    files: RepoFiles, path: Path, agent: dict[str, Any], module: str | None, agent_id: str
) -> Agent:
    """The `agent:` mapping of an `*.agent.yaml` (or a markdown file's YAML block)."""
    meta, persona = agent.get("metadata") or {}, agent.get("persona") or {}
    principles = persona.get("principles") or []
    if isinstance(principles, str):
        principles = [p.strip("- ").strip() for p in principles.split("\n") if p.strip()]
    menu = _menu(agent.get("menu"), "trigger", ("workflow", "exec", "exec-workflow"))
    return Agent(
        id=agent_id,
        name=str(meta.get("name", path.stem)),
        title=str(meta.get("title", "")),
        role=str(persona.get("role", "")),
        identity=str(persona.get("identity", "")),
        communication_style=str(persona.get("communication_style", "")),
        principles=tuple(str(p) for p in principles),
        menu=menu,
        module=str(meta.get("module") or module or "") or None,
        source=files.source(path, 1),
    )


def _menu(items: Any, trigger: str, targets: tuple[str, ...]) -> tuple[MenuItem, ...]:
    """Menu entries from YAML or TOML: the trigger key and target keys differ by generation."""
    return tuple(
        MenuItem(
            str(item.get(trigger, "")),
            str(item.get("description", "")),
            next((item[key] for key in targets if item.get(key)), None),
        )
        for item in items or []
        if isinstance(item, dict)
    )


def read_agent_skill(
    files: RepoFiles, folder: Path, overrides: list[dict[str, Any]], module: str | None
) -> Agent | None:
    """A 6.1+ agent skill: `customize.toml`'s `[agent]` with the overrides merged."""
    customize = (
        files.read_toml(folder / "customize.toml") if (folder / "customize.toml").is_file() else {}
    )
    agent = merge_customization(
        (customize or {}).get("agent") or {}, *[(o.get("agent") or {}) for o in overrides]
    )
    if not agent:
        return None
    menu = _menu(agent.get("menu"), "code", ("skill", "workflow", "exec"))
    return Agent(
        id=folder.name,
        name=str(agent.get("name", folder.name)),
        title=str(agent.get("title", "")),
        role=str(agent.get("role", "")),
        identity=str(agent.get("identity", "")),
        communication_style=str(agent.get("communication_style", "")),
        principles=tuple(str(p) for p in agent.get("principles") or []),
        menu=menu,
        module=module,
        source=files.source(folder / "customize.toml", 1),
    )


def merge_customization(base: dict[str, Any], *overrides: dict[str, Any]) -> dict[str, Any]:
    """BMAD's merge rules: scalars are replaced, arrays appended, and arrays of tables with a
    `code` or `id` replace the matching item and append the rest."""
    merged = dict(base)
    for override in overrides:
        for key, value in override.items():
            current = merged.get(key)
            if isinstance(current, dict) and isinstance(value, dict):
                merged[key] = merge_customization(current, value)
            elif isinstance(current, list) and isinstance(value, list):
                merged[key] = _merge_list(current, value)
            else:
                merged[key] = value
    return merged


def _merge_list(current: list[Any], extra: list[Any]) -> list[Any]:
    def key(item: Any) -> Any:
        return (item.get("code") or item.get("id")) if isinstance(item, dict) else None

    result = list(current)
    for item in extra:
        wanted = key(item)
        index = next((i for i, old in enumerate(result) if wanted and key(old) == wanted), None)
        if index is None:
            result.append(item)
        else:
            result[index] = item
    return result


def role_for(name: str, path: str) -> str | None:
    """The role a workflow's name or folder suggests (`create-story` → `sm`)."""
    haystack = f"{path} {name}".lower()
    return next((role for hint, role in ROLE_HINTS if hint in haystack), None)


def owner(agents: list[Agent], name: str, path: str, aliases: set[str]) -> str | None:
    """The id of the agent that owns a workflow: its menu's, else by role."""
    for agent in agents:
        for item in agent.menu:
            target = (item.target or "").replace("\\", "/")
            if target and (
                target in aliases or any(target.endswith(a) for a in aliases if "/" in a)
            ):
                return agent.id
    role = role_for(name, path)
    if role is None:
        return None
    by_role = {role_key(a.id): a.id for a in agents}
    return next((by_role[r] for r in STAND_INS.get(role, (role,)) if r in by_role), None)
