"""The prompts moved from f-strings to templates byte for byte: recordings replay only
identical requests, so a changed byte would be a changed request."""

from __future__ import annotations

import json

from tests.agents.prompt_cases import rendered
from tests.support import ROOT

GOLDEN = ROOT / "tests/agents/golden/prompts.json"


def test_rendered_prompts_are_byte_identical_to_the_golden_file():
    assert rendered() == json.loads(GOLDEN.read_text(encoding="utf-8"))
