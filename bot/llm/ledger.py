"""Cost totals per project, workflow, agent and story."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from bot.llm.types import Usage


@dataclasses.dataclass(frozen=True)
class Charge:
    project: str
    workflow: str
    agent: str
    story: str
    model: str
    usage: Usage
    cost_usd: float


class CostLedger:
    def __init__(self) -> None:
        self.charges: list[Charge] = []

    def add(self, charge: Charge) -> None:
        self.charges.append(charge)

    def totals(self, by: str) -> dict[str, float]:
        """Dollars per `project`, `workflow`, `agent`, `story` or `model`."""
        found: dict[str, float] = defaultdict(float)
        for charge in self.charges:
            found[getattr(charge, by)] += charge.cost_usd
        return dict(found)

    @property
    def total_usd(self) -> float:
        return sum(c.cost_usd for c in self.charges)
