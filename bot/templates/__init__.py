"""Every text a person reads (comments, issue bodies, prompts), as Jinja templates."""

from __future__ import annotations

import functools
from typing import Any

import jinja2


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bot", "templates"),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, never an empty string
        autoescape=False,  # noqa: S701 - Markdown for GitHub, which sanitises any HTML in it
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context).strip()
