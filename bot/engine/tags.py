"""BMAD's XML-tag instructions (`instructions.xml`, `instructions.md`, tasks), read tolerantly.

These files are rarely well-formed XML: markdown sits between the tags, text holds `<value>`
placeholders and stray `<`, tags go unclosed. Python's HTML parser reads them anyway and says
where each tag starts; the tags we know become structure, every other tag stays as the text it
was, and an unclosed tag ends with its parent.
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

from typing_extensions import override

from bot.engine.model import Instruction, InstructionKind, Source, Step

#: Tags that carry structure; everything else is text.
STRUCTURE = frozenset(
    {
        "workflow",
        "task",
        "flow",
        "step",
        "substep",
        "action",
        "check",
        "ask",
        "goto",
        "template-output",
        "invoke-workflow",
        "invoke-task",
        "invoke-protocol",
        "output",
        "critical",
        "mandate",
        "halt",
        "llm",
        "iterate",
        "for-each-item",
        "if",
        "note",
        "i",
        "anchor",
        "protocol",
    }
)
#: Tags that are their own instruction kind.
_AS_IS: dict[str, InstructionKind] = {"ask": "ask", "output": "output", "halt": "halt"}
_RULES = frozenset({"critical", "mandate", "llm"})
_NOT_NESTED = frozenset({"step", "workflow"})
#: A scope of its own: `workflow.xml`'s `<protocol>`s have steps that are not the flow's.
_SCOPES = frozenset({"protocol"})
#: Deeper nesting is read as text: no file can exhaust the reader's stack.
MAX_DEPTH = 48
_GOTO_TEXT = re.compile(
    r"\b(?:GOTO|go to|goto|jump to|continue (?:to|with)) (?:step\s+([\w.]+)|(step_[\w.]+))",
    re.IGNORECASE,
)
_HALT_TEXT = re.compile(r"^\s*(HALT|STOP and wait|WAIT for user)", re.IGNORECASE)
_RAW_TEXT_TAGS = re.compile(r"<(/?)(script|style|textarea|title)\b", re.IGNORECASE)


@dataclasses.dataclass
class Text:
    value: str
    line: int


@dataclasses.dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Node | Text] = dataclasses.field(default_factory=list)

    def text(self) -> str:
        return "".join(c.value if isinstance(c, Text) else c.raw() for c in self.children).strip()

    def find(self, tag: str) -> Node | None:
        for child in self.children:
            if isinstance(child, Node):
                found = child if child.tag == tag else child.find(tag)
                if found is not None:
                    return found
        return None

    def find_all(self, tag: str) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag:
                    found.append(child)
                found.extend(child.find_all(tag))
        return found

    def raw(self) -> str:
        attrs = "".join(f' {k}="{v}"' for k, v in self.attrs.items())
        return f"<{self.tag}{attrs}>{self.text()}</{self.tag}>"

    def own_text(self) -> str:
        """Text and unknown tags directly inside, without the structured children."""
        parts = [c.value for c in self.children if isinstance(c, Text)]
        return re.sub(r"[ \t]+\n", "\n", "".join(parts)).strip()


class _TreeBuilder(HTMLParser):
    def __init__(self, structure: frozenset[str] | None) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, 1)
        self.stack = [self.root]
        self.structure = structure

    def known(self, tag: str) -> bool:
        return self.structure is None or tag in self.structure

    def _text(self, value: str) -> None:
        self.stack[-1].children.append(Text(value, self.getpos()[0]))

    @override
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.known(tag) or len(self.stack) > MAX_DEPTH:
            self._text(self.get_starttag_text() or "")
            return
        scope = max((i for i, n in enumerate(self.stack) if n.tag in _SCOPES), default=0)
        if tag in _NOT_NESTED and any(n.tag == tag for n in self.stack[scope:]):
            while self.stack[-1].tag != tag:  # an unclosed step ends where the next begins
                self.stack.pop()
            self.stack.pop()
        node = Node(tag, {k: v or "" for k, v in attrs}, self.getpos()[0])
        self.stack[-1].children.append(node)
        self.stack.append(node)

    @override
    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.known(tag):
            self._text(self.get_starttag_text() or "")
            return
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}, self.getpos()[0]))

    @override
    def handle_endtag(self, tag: str) -> None:
        if not self.known(tag):
            self._text(f"</{tag}>")
            return
        if all(n.tag != tag for n in self.stack[1:]):
            return  # a stray closing tag
        while self.stack[-1].tag != tag:  # unclosed tags end with their parent
            self.stack.pop()
        self.stack.pop()

    @override
    def handle_data(self, data: str) -> None:
        self._text(data)

    @override
    def handle_comment(self, data: str) -> None:
        return None  # <!-- … --> in instructions are notes to the author


def parse_tree(text: str, structure: frozenset[str] | None = STRUCTURE) -> Node:
    """The tag tree of `text`; only `structure` tags are nodes (None: every tag)."""
    builder = _TreeBuilder(structure)
    # The HTML parser would read everything after <script> or <style> as raw text.
    builder.feed(_RAW_TEXT_TAGS.sub(lambda m: f"&lt;{m.group(1)}{m.group(2)}", text))
    builder.close()
    return builder.root


@dataclasses.dataclass
class TagInstructions:
    steps: list[Step]
    critical: list[Instruction]
    aliases: dict[str, str]  # a substep's id -> the step holding it


def read_instructions(text: str, path: str, line_offset: int = 0) -> TagInstructions:
    """Steps and workflow-wide rules from an XML-tag instructions file."""
    return _Reader(path, line_offset).read(parse_tree(text))


class _Reader:
    def __init__(self, path: str, line_offset: int) -> None:
        self.path, self.offset = path, line_offset
        self.result = TagInstructions([], [], {})

    def source(self, line: int) -> Source:
        return Source(self.path, line + self.offset)

    def read(self, root: Node) -> TagInstructions:
        self._visit(root)
        return self.result

    def _visit(self, node: Node) -> None:
        for child in node.children:
            if not isinstance(child, Node):
                continue
            if child.tag == "step":
                self.result.steps.extend(self._step(child))
            elif child.tag in _SCOPES:
                continue  # invoked by name (`invoke-protocol`), never reached by the flow
            elif child.tag in _RULES:
                self.result.critical.append(
                    Instruction("critical", child.text(), self.source(child.line), tag=child.tag)
                )
            else:
                self._visit(child)

    def _step(self, node: Node) -> list[Step]:
        """A step; one with `<anchor id="x"/>` among its instructions continues, from the
        anchor on, as step `x`, so that `<goto anchor="x"/>` lands there."""
        step_id = (node.attrs.get("n") or node.attrs.get("id") or str(node.line)).strip()
        if node.attrs.get("n") and node.attrs.get("id"):
            self.result.aliases[node.attrs["id"].strip()] = step_id  # `goto step_3`
        goal = node.attrs.get("goal", "").strip()
        attrs = {k: v for k, v in node.attrs.items() if k not in ("n", "goal")}
        steps: list[Step] = []
        part: list[Instruction] = []
        part_id, part_line = step_id, node.line
        for child in node.children:
            anchor = _anchor_id(child)
            if anchor:
                steps.append(Step(part_id, goal, tuple(part), self.source(part_line), attrs=attrs))
                part_id, part_line, part = anchor, child.line, []
                continue
            part += self._instructions(child, part_id)
        steps.append(Step(part_id, goal, tuple(part), self.source(part_line), attrs=attrs))
        return steps

    def _nested(self, node: Node, step_id: str) -> tuple[Instruction, ...]:
        return tuple(i for c in node.children for i in self._instructions(c, step_id))

    def _instructions(self, child: Node | Text, step_id: str) -> list[Instruction]:
        if isinstance(child, Text):
            text = child.value.strip()
            return [Instruction("act", text, self.source(child.line))] if text else []
        tag, attrs, where = child.tag, child.attrs, self.source(child.line)
        condition = attrs.get("if") or None
        if tag == "anchor":  # deeper than a step's own instructions: the step holds it
            if attrs.get("id"):
                self.result.aliases.setdefault(attrs["id"].strip(), step_id)
            return []
        if tag in ("substep", "iterate", "for-each-item", "if", "flow", "step"):
            if tag in ("substep", "step") and attrs.get("n"):
                self.result.aliases[attrs["n"].strip()] = step_id
            nested = self._nested(child, step_id)
            if tag in ("iterate", "for-each-item", "if") or condition:
                label = condition or child.own_text() or attrs.get("for", tag)
                return [
                    Instruction("check", label, where, condition=label, children=nested, tag=tag)
                ]
            return list(nested)
        if tag == "check":
            label = condition or child.own_text()
            return [
                Instruction(
                    "check",
                    label,
                    where,
                    condition=label,
                    children=self._nested(child, step_id),
                    tag=tag,
                )
            ]
        text = child.text()
        if tag == "goto":
            target = (attrs.get("step") or attrs.get("anchor") or attrs.get("n") or text).strip()
            return [
                Instruction(
                    "goto", text or f"go to step {target}", where, condition, target=target, tag=tag
                )
            ]
        if tag == "template-output":
            return [
                Instruction(
                    "template-output",
                    text,
                    where,
                    condition,
                    target=attrs.get("file") or text,
                    tag=tag,
                )
            ]
        if tag.startswith("invoke-"):
            target = next(
                (
                    attrs[k]
                    for k in ("path", "workflow", "task", "protocol", "name")
                    if attrs.get(k)
                ),
                text,
            )
            return [Instruction("invoke", text, where, condition, target=target.strip(), tag=tag)]
        if tag == "action":
            if goto := _GOTO_TEXT.search(text):
                return [
                    Instruction(
                        "goto",
                        text,
                        where,
                        condition,
                        target=(goto.group(1) or goto.group(2)).rstrip("."),
                        tag=tag,
                    )
                ]
            kind: InstructionKind = "halt" if _HALT_TEXT.match(text) else "act"
            return [Instruction(kind, text, where, condition, tag=tag)]
        if tag in _AS_IS:
            return [Instruction(_AS_IS[tag], text, where, condition, tag=tag)]
        if tag in _RULES:
            return [Instruction("critical", text, where, condition, tag=tag)]
        return [Instruction("act", text, where, condition, tag=tag)] if text else []


def _anchor_id(child: Node | Text) -> str:
    if isinstance(child, Node) and child.tag == "anchor":
        return child.attrs.get("id", "").strip()
    return ""
