"""Whether a model's answer is grounded: the text it quotes as support is really in what it
was shown. A self-reported confidence never decides alone; an answer that cites nothing, or
cites what is not there, is not trusted whatever number comes with it."""

from __future__ import annotations

import re

#: A quote shorter than this (after normalising) supports nothing.
MIN_QUOTE = 8
_SPACE = re.compile(r"\s+")
_EDGES = " \t\n\"'`.\u201c\u201d\u2018\u2019\u2026"  # quotes, curly or not; ellipses


def normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def grounded(quote: str, *sources: str) -> bool:
    """True when `quote`, whitespace and case aside, is in one of `sources`."""
    wanted = normal(quote).strip(_EDGES)
    if len(wanted) < MIN_QUOTE:
        return False
    return any(wanted in normal(source) for source in sources)


def unsupported(quote: str) -> str:
    """Why an answer is not trusted, in words for the decision log."""
    if not quote.strip():
        return "it cites nothing"
    return f"the quote {quote[:80]!r} is not in the context"
