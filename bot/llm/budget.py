"""Budgets: no call is made that could cross what is left; a warning at 80%.

The worst case of a call is its estimated input plus its `max_tokens` of output, all at full
price. Tokens are estimated at three characters each (no tokenizer is at hand offline), which
overestimates for English: the check errs on the side of stopping.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from bot.llm.errors import BudgetExceeded
from bot.llm.pricing import PER, Price
from bot.llm.types import Request

WARN_AT = 0.8


def estimated_input_tokens(request: Request) -> int:
    chars = len(request.system) + sum(len(s) for s in request.stable)
    chars += sum(
        len(m.content) + sum(len(str(c.arguments)) for c in m.tool_calls) for m in request.messages
    )
    chars += sum(len(t.description) + len(str(t.input_schema)) for t in request.tools)
    return chars // 3 + 1


@dataclasses.dataclass
class Budget:
    limit_usd: float
    spent_usd: float = 0.0
    on_warning: Callable[[float, float], None] | None = None
    warned: bool = False

    def worst_case(self, request: Request, price: Price) -> float:
        return (
            estimated_input_tokens(request) * max(price.input, price.cache_write)
            + request.max_tokens * price.output
        ) / PER

    def check(self, request: Request, price: Price) -> None:
        worst = self.worst_case(request, price)
        if self.spent_usd + worst > self.limit_usd:
            raise BudgetExceeded(
                f"this call could cost up to ${worst:.4f}; ${self.spent_usd:.4f} of the "
                f"${self.limit_usd:.2f} budget is spent, so it was not made",
                spent=self.spent_usd,
                limit=self.limit_usd,
                worst_case=worst,
            )

    def record(self, cost: float) -> None:
        self.spent_usd += cost
        if not self.warned and self.spent_usd >= WARN_AT * self.limit_usd:
            self.warned = True
            if self.on_warning is not None:
                self.on_warning(self.spent_usd, self.limit_usd)
