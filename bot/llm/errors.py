"""What can go wrong with a model call, as types the engine turns into escalations."""

from __future__ import annotations


class LLMError(Exception):
    """Base of every error this layer raises."""


class Retryable(LLMError):
    """A failure worth trying again (429, 5xx, 529 overloaded, a timeout)."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class LLMUnavailable(LLMError):
    """The provider kept failing after every retry; the last failure is the cause."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class ReplyNotAsked(LLMError):
    """The model's reply was not what was asked (bad structured output, an unknown tool),
    even after it was shown the error once."""


class ReplyCut(LLMError):
    """The reply was cut at `max_tokens` even with more room: a part is never taken as whole."""


class UnknownModelPrice(LLMError):
    """No price is known for a model: it is refused rather than counted as free."""


class ModelNotAllowed(LLMError):
    """A repository asked for a model the operator does not allow."""


class BudgetExceeded(LLMError):
    """The call could cross the budget; it was not made."""

    def __init__(self, message: str, *, spent: float, limit: float, worst_case: float) -> None:
        super().__init__(message)
        self.spent, self.limit, self.worst_case = spent, limit, worst_case
