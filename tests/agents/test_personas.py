"""Personas in every generation, the project's defaults, and the tool loop's limits."""

from __future__ import annotations

from bot.agents.decisions import Decider
from bot.agents.loop import work
from bot.agents.personas import persona_for
from bot.agents.tools import Workspace
from bot.engine.loader import load
from bot.engine.tasks import Task
from bot.llm.ledger import CostLedger
from bot.llm.metered import Metered
from bot.llm.pricing import PriceTable
from bot.llm.types import Completion, ToolCall, Usage
from tests.engine.conftest import install_path
from tests.engine.test_messy_repositories import write

AGENT_MD = """---
name: pm
---

```yaml
agent:
  metadata: {name: Jane, title: Product Manager, module: bmm}
  persona:
    role: Writes PRDs people can build from.
    principles: |
      - Users first
      - Small bets
  menu:
    - trigger: PR
      workflow: "{project-root}/_bmad/bmm/workflows/prd/workflow.yaml"
      description: Create a PRD
```
"""


def test_personas_from_every_generation_and_the_defaults(tmp_path):
    write(
        tmp_path, {"_bmad/core/config.yaml": "user_name: Ada\n", "_bmad/bmm/agents/pm.md": AGENT_MD}
    )
    jane = persona_for(load(tmp_path).agents, "pm")
    assert (jane.name, jane.principles) == ("Jane", ("Users first", "Small bets"))
    bob = persona_for(load(install_path("6.0.4")).agents, "sm")
    assert bob.name == "Bob" and "Scrum Master" in bob.prompt()
    john = persona_for(load(install_path("6.12.0")).agents, "bmad-agent-pm")
    assert john.name == "John" and john.principles
    murat = persona_for(load(install_path("6.0.0-alpha.22")).agents, "tea")
    assert murat.name == "Murat"
    assert persona_for([], "sm").name == "Bob"  # no such persona installed: the default


class Reader:
    """A model that always wants to read one more file."""

    spec = "anthropic:claude-haiku-4-5"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, request):
        self.calls += 1
        return Completion(
            "", (ToolCall(f"t{self.calls}", "read_file", {"path": "a.md"}),), Usage(10, 5000), "m"
        )

    async def context_window(self):
        return None

    async def stream(self, request, on_text):
        return await self.complete(request)


async def test_the_loop_stops_at_its_iteration_and_token_limits(tmp_path):
    (tmp_path / "a.md").write_text("a")
    task = Task("act", "w", "1", "g", "Read forever")
    reader = Reader()
    llm = Metered(reader, PriceTable.load(), CostLedger())
    result = await work(
        llm,
        persona_for([], "dev"),
        task,
        Workspace(tmp_path),
        Decider(tmp_path, [], None),
        max_iterations=4,
    )
    assert (result.stopped, result.iterations, reader.calls) == ("iterations", 4, 4)
    tokens = await work(
        llm,
        persona_for([], "dev"),
        task,
        Workspace(tmp_path),
        Decider(tmp_path, [], None),
        max_output_tokens=12_000,
    )
    assert (tokens.stopped, tokens.iterations) == ("tokens", 3)
